/**
 * How a host is named in known_hosts (OpenSSH's convention): `host` on port 22, else
 * `[host]:port`. The name as given: the ssh2 bridge normalises it first (hostSpec).
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}
