import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { SshMcpError } from "../errors.js";
import { hostSpec, knownKeys } from "./known-hosts.js";
import type { BridgeProfile } from "./ssh2-bridge.js";
import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";

/**
 * How a profile is shown (list_profiles, diagnose_profile, errors) and what the ssh2 bridge can
 * take from an ssh config alias. Pure reading: no process runs here (ssh -G ran in catalog.ts).
 */

/** Where a profile comes from, in words: `ssh config /home/u/.ssh/config:12`, `built-in`... */
export function describeOrigin(p: Profile): string {
  const o = p.origin;
  if (!o) return "profiles file";
  const at = o.file ? `${o.file}${o.line ? `:${o.line}` : ""}` : "";
  switch (o.kind) {
    case "builtin":
      return "built-in";
    case "adhoc":
      return "ad-hoc target";
    case "ssh_config":
      return `ssh config ${at}`;
    case "profiles_file":
      return `profiles file ${at}`;
  }
}

/**
 * The IdentityFiles an alias configures, `~` expanded: not OpenSSH's defaults, nor `none` or one
 * ssh expands itself (%-tokens, ${VAR}), which cannot be checked here.
 */
export function configuredIdentities(p: Profile, home: string): string[] {
  if (!p.ssh || p.ssh.default_identities) return [];
  return p.ssh.identityfiles.filter((f) => f !== "none" && !/[%$]/.test(f)).map((f) => expandHome(f, home));
}

/** The first configured IdentityFile that exists (the one the ssh2 bridge and diagnose_profile use). */
export function firstIdentity(p: Profile, home: string): string | undefined {
  return configuredIdentities(p, home).find((f) => existsSync(f));
}

/** `~` and `~/x` with the server's HOME; ssh -G prints identity files unexpanded. */
export function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/**
 * The resolved values the ssh2 bridge honours for an ssh config alias: HostName, Port, User, the
 * first IdentityFile that exists, the first UserKnownHostsFile, and one ProxyJump hop. Throws
 * CONFIG_ERROR when the alias needs what it cannot do (ProxyCommand, several hops): connecting
 * otherwise would reach the host another way than the user's own ssh does.
 */
export function ssh2FromSshConfig(p: Profile, home: string): Partial<BridgeProfile> {
  const r = p.ssh;
  if (!r) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${p.name}': ssh -G has not resolved ${p.ssh_config_host ?? p.name} (${p.sshProblem ?? "not resolved yet"}). Use the native bridge, or fix the ssh config.`,
    );
  }
  const blocked = [
    r.proxycommand ? "a ProxyCommand" : "",
    r.proxyjump.length > 1 ? `a ProxyJump chain of ${r.proxyjump.length} hops` : "",
    r.jumps?.[0]?.problem ? `the jump host (${r.jumps[0].problem})` : "",
  ].filter(Boolean);
  if (blocked.length) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${p.name}': the ssh2 bridge cannot honour ${blocked.join(" and ")} of ${p.ssh_config_host}. Use "bridge": "native" (it runs ssh with your config). Nothing was started.`,
    );
  }
  const key = firstIdentity(p, home);
  const known = r.userknownhostsfiles.map((f) => expandHome(f, home))[0];
  const hop = r.jumps?.[0];
  return {
    host: r.hostname,
    port: r.port,
    ...(p.username ? {} : { username: r.user }),
    ...(p.key_filename || !key ? {} : { key_filename: key }),
    ...(p.known_hosts_file || !known ? {} : { known_hosts_file: known }),
    ...(hop?.hostname
      ? { proxy_jump: `${hop.user ? `${hop.user}@` : ""}${hop.hostname}:${hop.port ?? 22}` }
      : {}),
  };
}

/** What of an alias's resolved config the ssh2 bridge does not honour (shown, not refused). */
export function ssh2NotHonoured(p: Profile): string[] {
  const r = p.ssh;
  if (!r) return [];
  return [
    ...(r.proxycommand ? ["ProxyCommand"] : []),
    ...(r.proxyjump.length > 1 ? ["ProxyJump with several hops"] : []),
    ...(r.certificatefiles.length ? ["CertificateFile"] : []),
    ...(/^(yes|true)$/i.test(r.forwardagent) ? ["ForwardAgent"] : []),
    ...(r.hostkeyalias ? ["HostKeyAlias"] : []),
    ...(!r.default_identities && r.identityfiles.length > 1 ? ["IdentityFile beyond the first"] : []),
    ...r.forwards.map((f) => f.split(" ")[0] as string),
  ].filter((v, i, a) => a.indexOf(v) === i);
}

/**
 * Whether the host's key is in the known_hosts files ssh will read (hashed entries too), by the
 * name OpenSSH looks up (HostKeyAlias as is, else `host` or `[host]:port`). "uncertain" when a
 * file holds what this check does not evaluate (an @cert-authority line, a wildcard or negated
 * host pattern): then only a login tells.
 */
export function hostKeyStatus(p: Profile, home: string): "known" | "unknown" | "uncertain" {
  const r = p.ssh;
  const files = r
    ? [...r.userknownhostsfiles, ...r.globalknownhostsfiles].map((f) => expandHome(f, home))
    : [p.known_hosts_file ?? join(home, ".ssh", "known_hosts")];
  const spec = r?.hostkeyalias ? r.hostkeyalias.toLowerCase() : hostSpec(p.host, p.port);
  let uncertain = false;
  for (const f of files) {
    if (!isAbsolute(f) || !existsSync(f)) continue;
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue; // unreadable: as if absent
    }
    if (knownKeys(text, spec).length) return "known";
    if (/^\s*@cert-authority\s/m.test(text) || /^\s*!?[^\s|#@]*[*?!][^\s]*\s/m.test(text)) uncertain = true;
  }
  return uncertain ? "uncertain" : "unknown";
}

/** The problems known without connecting: ssh's refusal, a missing key, an unknown host key. */
export function profileProblems(p: Profile, home: string): string[] {
  const out: string[] = [];
  if (p.sshProblem) out.push(p.sshProblem);
  if (p.key_filename && !existsSync(p.key_filename)) out.push(`key file ${p.key_filename} does not exist`);
  const files = configuredIdentities(p, home);
  const missing = files.filter((f) => isAbsolute(f) && !existsSync(f));
  if (files.length && missing.length === files.length)
    out.push(`IdentityFile ${missing.join(", ")} does not exist`);
  for (const hop of p.ssh?.jumps ?? []) if (hop.problem) out.push(`jump host ${hop.spec}: ${hop.problem}`);
  if (!p.lab && !p.auto_add_host_key && (p.ssh || !p.ssh_config_host) && hostKeyStatus(p, home) === "unknown")
    out.push(
      `the host key of ${p.ssh?.hostkeyalias ?? hostSpec(p.host, p.port)} is in no known_hosts file ssh reads: the login will be refused (HOST_KEY_UNKNOWN) until it is added (ssh-keyscan, or one login in your own terminal)`,
    );
  return out;
}

/** Notes that are no failure: what ssh-mcp does not control for this profile. */
export function profileWarnings(p: Profile): string[] {
  return p.ssh?.proxycommand
    ? [
        "a ProxyCommand runs as written: an ssh it starts does not get ssh-mcp's forced options (a host-key question it asks ends the login: HOST_KEY_UNKNOWN)",
      ]
    : [];
}

/** One row of list_profiles. */
export function profileRow(p: Profile, config: Config): Record<string, unknown> {
  const r = p.ssh;
  const jumps = r?.jumps?.map((h) =>
    h.hostname ? `${h.user ? `${h.user}@` : ""}${h.hostname}:${h.port}` : h.spec,
  );
  const problems = profileProblems(p, config.home);
  return {
    name: p.name,
    source: {
      kind: p.origin?.kind ?? "profiles_file",
      file: p.origin?.file ?? null,
      line: p.origin?.line ?? null,
      ...(p.origin?.overrides ? { overrides: p.origin.overrides } : {}),
    },
    ssh_config_host: p.ssh_config_host ?? null,
    host: p.host,
    user: p.username ?? r?.user ?? null,
    port: p.port,
    jump_chain: jumps ?? (p.proxy_jump ? p.proxy_jump.split(",") : []),
    bridge: p.bridge,
    ...(p.bridge === "ssh2" && r ? { ssh2_not_honoured: ssh2NotHonoured(p) } : {}),
    identity_files: r
      ? r.default_identities
        ? []
        : r.identityfiles
      : p.key_filename
        ? [p.key_filename]
        : [],
    certificate_files: r?.certificatefiles ?? [],
    forward_agent: r ? /^(yes|true)$/i.test(r.forwardagent) : false,
    security_mode: p.security.mode,
    route_steps: p.route.length,
    secrets: Object.keys(p.secrets ?? {}),
    problem: problems.length ? problems.join("; ") : null,
    warnings: profileWarnings(p),
  };
}
