import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The lab's keys live in its directory and are made once: a host key (so known_hosts stays
 * valid across restarts) and a client key that the built-in lab profile logs in with.
 */
export interface LabKeys {
  hostKey: string;
  clientKey: string;
  clientPub: string;
  knownHosts: string;
}

function keygen(path: string): void {
  if (existsSync(path)) return;
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ssh-mcp-lab", "-f", path]);
  chmodSync(path, 0o600);
}

export function ensureKeys(dir: string, host: string, port: number): LabKeys {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKey = join(dir, "host_ed25519");
  const clientKey = join(dir, "client_ed25519");
  keygen(hostKey);
  keygen(clientKey);
  const knownHosts = join(dir, "known_hosts");
  const [type, blob] = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/);
  const hostSpec = port === 22 ? host : `[${host}]:${port}`;
  // One line per port the lab has served from this directory (same host key), never clobbered.
  const entry = `${hostSpec} ${type} ${blob}`;
  const lines = existsSync(knownHosts) ? readFileSync(knownHosts, "utf8").split("\n").filter(Boolean) : [];
  const kept = lines.filter((l) => !l.startsWith(`${hostSpec} `));
  writeFileSync(knownHosts, [...kept, entry].join("\n") + "\n", { mode: 0o600 });
  return { hostKey, clientKey, clientPub: `${clientKey}.pub`, knownHosts };
}
