import type { Profile } from "../config/schema.js";

/**
 * Builds the argv of the native bridge: `ssh -tt` with every choice from the profile spelled
 * as `-o` options, so behaviour does not depend on what ~/.ssh/config happens to say (except
 * when the profile names an `ssh_config_host`, which opts into it). Secrets never appear here:
 * a passphrase or password reaches ssh through SSH_ASKPASS (see askpass.ts).
 */
export interface NativeArgvOptions {
  /** Connect timeout in seconds, so an unreachable host fails instead of hanging. */
  connectTimeout: number;
  /** True when an askpass helper will answer passphrase/password prompts. */
  askpass: boolean;
}

export function nativeSshArgv(profile: Profile, opts: NativeArgvOptions): string[] {
  const o = (kv: string): string[] => ["-o", kv];
  const argv = ["ssh", "-tt"];
  argv.push(...o(`StrictHostKeyChecking=${profile.auto_add_host_key ? "accept-new" : "yes"}`));
  if (profile.known_hosts_file) argv.push(...o(`UserKnownHostsFile=${profile.known_hosts_file}`));
  argv.push(...o(`ServerAliveInterval=${profile.keepalive_interval}`), ...o("ServerAliveCountMax=3"));
  argv.push(...o(`ConnectTimeout=${opts.connectTimeout}`));
  // Without an askpass helper nothing could answer a prompt: fail fast instead of hanging.
  if (!opts.askpass) argv.push(...o("BatchMode=yes"));
  else argv.push(...o("NumberOfPasswordPrompts=1"));
  if (!profile.password_env)
    argv.push(...o("PasswordAuthentication=no"), ...o("KbdInteractiveAuthentication=no"));
  if (!profile.allow_agent) argv.push(...o("IdentityAgent=none"));
  if (profile.key_filename) argv.push("-i", profile.key_filename);
  if (!profile.look_for_keys) argv.push(...o("IdentitiesOnly=yes"));
  if (profile.proxy_jump) argv.push("-J", profile.proxy_jump);
  if (profile.ssh_config_host) {
    // The alias carries HostName/Port/User from ~/.ssh/config; only explicit fields override.
    if (profile.username) argv.push("-l", profile.username);
    argv.push("--", profile.ssh_config_host);
    return argv;
  }
  argv.push("-p", String(profile.port));
  if (profile.username) argv.push("-l", profile.username);
  argv.push("--", profile.host);
  return argv;
}
