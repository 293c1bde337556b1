import { createHmac } from "node:crypto";

/**
 * How a host is named in known_hosts (OpenSSH's convention): `host` on port 22, else
 * `[host]:port`. The name as given: the ssh2 bridge normalises it first (hostSpec).
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The host's known_hosts name, lowercased and without a trailing dot (as OpenSSH looks it up). */
export function hostSpec(host: string, port: number): string {
  return knownHostsName(host.toLowerCase().replace(/\.$/, ""), port);
}

/** known_hosts entries for a host (plain and hashed |1|salt|hash), as [type, blob] pairs. */
export function knownKeys(text: string, spec: string, marker?: "@revoked"): { type: string; blob: Buffer }[] {
  const out: { type: string; blob: Buffer }[] = [];
  for (const raw of text.split("\n")) {
    let line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    if (line.startsWith("@")) {
      if (!marker || !line.startsWith(marker + " ")) continue;
      line = line.slice(marker.length + 1).trim();
    } else if (marker) continue;
    const [hostsRaw, type, b64] = line.split(/\s+/);
    const hosts = hostsRaw?.startsWith("|1|") ? hostsRaw : hostsRaw?.toLowerCase();
    if (!hosts || !type || !b64) continue;
    let match = false;
    if (hosts.startsWith("|1|")) {
      const [, , salt, hash] = hosts.split("|");
      if (salt && hash)
        match = createHmac("sha1", Buffer.from(salt, "base64")).update(spec).digest("base64") === hash;
    } else {
      match = hosts.split(",").includes(spec);
    }
    if (match) out.push({ type, blob: Buffer.from(b64, "base64") });
  }
  return out;
}
