import { execFile } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Profile } from "../config/schema.js";
import { knownHostsName } from "./known-hosts.js";
import {
  describeOrigin,
  firstIdentity,
  hostKeyStatus,
  profileProblems,
  ssh2NotHonoured,
} from "./profile-view.js";

function run(cmd: string, args: string[], secretNames: string[]): Promise<{ ok: boolean; out: string }> {
  // ssh-keygen gets the server's environment without the secrets in it.
  const env = { ...process.env };
  for (const name of secretNames) delete env[name];
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000, env }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: String(stdout || stderr).trim() }),
    );
  });
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** The key file: there, readable, its type, size and fingerprint, and whether a passphrase guards it. */
async function keyReport(path: string, secrets: string[]): Promise<Record<string, unknown>> {
  const exists = existsSync(path);
  const readable = isReadable(path);
  const fp = exists ? await run("ssh-keygen", ["-l", "-f", path], secrets) : { ok: false, out: "" };
  // An empty passphrase opens an unencrypted key only; never try the real one here.
  const plain = exists
    ? await run("ssh-keygen", ["-y", "-P", "", "-f", path], secrets)
    : { ok: false, out: "" };
  const m = /^(\d+)\s+(\S+)\s+.*\((\w+)\)\s*$/.exec(fp.out);
  return {
    path,
    exists,
    readable,
    type: m?.[3] ?? null,
    bits: m ? Number(m[1]) : null,
    fingerprint: m?.[2] ?? null,
    encrypted: exists && fp.ok ? !plain.ok : null,
  };
}

function hostKeyWords(status: "known" | "unknown" | "uncertain", autoAdd: boolean): string {
  if (status === "known") return "known";
  if (status === "uncertain")
    return "not found by name (a @cert-authority or wildcard entry may still accept it: a login tells)";
  return autoAdd ? "unknown (will be added on first login)" : "unknown (login will be refused)";
}

/** Whether the host's key is known, or what happens at the first login when it is not. */
async function knownHostsReport(
  p: Profile,
  secrets: string[],
  home: string,
): Promise<Record<string, unknown>> {
  const file = p.known_hosts_file ?? join(homedir(), ".ssh", "known_hosts");
  if (p.ssh_config_host) {
    if (!p.ssh) return { file: null, status: `not resolved (${p.sshProblem ?? "ssh -G has not run"})` };
    const spec = knownHostsName(p.ssh.hostkeyalias ?? p.host, p.port);
    return {
      files: p.ssh.userknownhostsfiles,
      host: spec,
      status: hostKeyWords(hostKeyStatus(p, home), p.auto_add_host_key),
    };
  }
  if (!existsSync(file)) return { file, status: "file missing" };
  const hostSpec = knownHostsName(p.host, p.port);
  const found = await run("ssh-keygen", ["-F", hostSpec, "-f", file], secrets);
  return {
    file,
    host: hostSpec,
    status:
      found.ok && found.out
        ? "known"
        : p.auto_add_host_key
          ? "unknown (will be added on first login)"
          : "unknown (login will be refused)",
  };
}

/**
 * diagnose_profile: everything that can be checked about a profile without connecting. Secrets
 * are reported as set or not set (in `env`, the server's environment), never their value or
 * length; `secrets` (the configured secret variables) are kept from ssh-keygen.
 */
export async function diagnoseProfile(
  p: Profile,
  env: NodeJS.ProcessEnv,
  secrets: string[],
  home = homedir(),
) {
  const identity = p.key_filename ?? firstIdentity(p, home);
  const key = identity ? await keyReport(identity, secrets) : null;
  const secret = (envName: string | undefined) =>
    envName ? { name: envName, set: Boolean(env[envName]) } : null;
  const knownHosts = await knownHostsReport(p, secrets, home);
  const problems = profileProblems(p, home);
  return {
    profile: p.name,
    source: describeOrigin(p),
    host: p.host,
    port: p.port,
    username: p.username ?? p.ssh?.user ?? null,
    bridge: p.bridge,
    ssh_config_host: p.ssh_config_host ?? null,
    proxy_jump: p.proxy_jump ?? null,
    ...(p.ssh_config_host
      ? {
          ssh_config: p.ssh
            ? {
                hostname: p.ssh.hostname,
                user: p.ssh.user,
                port: p.ssh.port,
                proxy_jump: p.ssh.jumps ?? [],
                // Its program only: a ProxyCommand line may carry a token or a password.
                proxy_command: p.ssh.proxycommand ? `${p.ssh.proxycommand.trim().split(/\s+/)[0]} …` : null,
                identity_files: p.ssh.default_identities ? [] : p.ssh.identityfiles,
                certificate_files: p.ssh.certificatefiles,
                forward_agent: p.ssh.forwardagent,
                ...(p.bridge === "ssh2" ? { ssh2_not_honoured: ssh2NotHonoured(p) } : {}),
              }
            : null,
        }
      : {}),
    problem: problems.length ? problems.join("; ") : null,
    builtin_lab: Boolean(p.lab),
    key,
    passphrase_env: secret(
      p.passphrase_env ?? (env.SSH_MCP_KEY_PASSPHRASE ? "SSH_MCP_KEY_PASSPHRASE" : undefined),
    ),
    password_env: secret(p.password_env),
    known_hosts: knownHosts,
    auto_add_host_key: p.auto_add_host_key,
    route_steps: p.route.length,
    security: {
      mode: p.security.mode,
      allow_patterns: p.security.allow_patterns.length,
      deny_patterns: p.security.deny_patterns.length,
      redact_transcripts: p.security.redact_transcripts,
    },
  };
}
