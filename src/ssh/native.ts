import type { Profile } from "../config/schema.js";
import { shQuote } from "../tmux/command.js";

/**
 * Builds the argv of the native bridge: `ssh -tt` with every choice from the profile spelled
 * as `-o` options. Command-line options win over ~/.ssh/config, which still applies otherwise
 * (as an SRE expects of their own ssh: aliases, User, corporate proxies). Secrets never appear
 * here: a passphrase or password reaches ssh through SSH_ASKPASS (see askpass.ts).
 */
export interface NativeArgvOptions {
  /** Connect timeout in seconds, so an unreachable host fails instead of hanging. */
  connectTimeout: number;
  /** True when an askpass helper will answer passphrase/password prompts. */
  askpass: boolean;
  /**
   * For an ssh config alias or an ad-hoc target: ssh-mcp's -F file (forced options, then the
   * user's config; see config/ssh-resolve.ts), which ssh also hands to every ProxyJump hop.
   */
  configFile?: string;
}

/** ssh splits -o values on whitespace and treats quotes specially: quote such values. */
function optValue(value: string): string {
  return /[\s"'\\]/.test(value) ? `"${value.replace(/["\\]/g, "\\$&")}"` : value;
}

/** The options that decide trust and auth; the jump host gets the same ones. */
function commonOptions(profile: Profile, opts: NativeArgvOptions): string[] {
  const o = (kv: string): string[] => ["-o", kv];
  const argv: string[] = [];
  argv.push(...o(`StrictHostKeyChecking=${profile.auto_add_host_key ? "accept-new" : "yes"}`));
  if (profile.known_hosts_file) argv.push(...o(`UserKnownHostsFile=${optValue(profile.known_hosts_file)}`));
  argv.push(...o(`ConnectTimeout=${opts.connectTimeout}`));
  // Without an askpass helper nothing could answer a prompt: fail fast instead of hanging.
  if (!opts.askpass) argv.push(...o("BatchMode=yes"));
  else argv.push(...o("NumberOfPasswordPrompts=1"));
  if (!profile.password_env)
    argv.push(...o("PasswordAuthentication=no"), ...o("KbdInteractiveAuthentication=no"));
  if (!profile.allow_agent) argv.push(...o("IdentityAgent=none"));
  if (profile.key_filename) argv.push("-i", profile.key_filename);
  if (!profile.look_for_keys) argv.push(...o("IdentitiesOnly=yes"));
  return argv;
}

/**
 * A single jump host becomes a ProxyCommand running ssh with the same trust options, because
 * `-J` would connect to the jump host with ssh's defaults (an interactive host-key question, no
 * BatchMode). `user@host:port` is understood; a comma list (several hops) falls back to -J.
 */
export function proxyCommand(profile: Profile, opts: NativeArgvOptions): string[] {
  const jump = profile.proxy_jump;
  if (!jump) return [];
  if (jump.includes(",") || jump.includes("://")) return ["-J", jump];
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(jump);
  if (!m || m[2] === undefined) return ["-J", jump];
  const host = m[2].replace(/^\[|\]$/g, "");
  const args = [
    "ssh",
    ...commonOptions(profile, opts),
    "-o",
    `ServerAliveInterval=${profile.keepalive_interval}`,
  ];
  if (m[3]) args.push("-p", m[3]);
  if (m[1]) args.push("-l", m[1]);
  args.push("-W", "[%h]:%p", "--", host);
  // ssh expands %-tokens in ProxyCommand: a literal % in a path must be doubled.
  const command = args.map((a) => (a === "[%h]:%p" ? a : shQuote(a.replace(/%/g, "%%")))).join(" ");
  return ["-o", `ProxyCommand=${command}`];
}

export function nativeSshArgv(profile: Profile, opts: NativeArgvOptions): string[] {
  const o = (kv: string): string[] => ["-o", kv];
  const argv = [
    "ssh",
    "-tt",
    ...(opts.configFile ? ["-F", opts.configFile] : []),
    ...commonOptions(profile, opts),
  ];
  argv.push(...o(`ServerAliveInterval=${profile.keepalive_interval}`), ...o("ServerAliveCountMax=3"));
  argv.push(...proxyCommand(profile, opts));
  if (profile.ssh_config_host) {
    // The alias carries HostName/Port/User/ProxyJump from the ssh config; only explicit fields override.
    if (profile.username) argv.push("-l", profile.username);
    argv.push("--", profile.ssh_config_host);
    return argv;
  }
  if (!profile.origin?.port_default) argv.push("-p", String(profile.port));
  if (profile.username) argv.push("-l", profile.username);
  argv.push("--", profile.host);
  return argv;
}
