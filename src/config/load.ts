import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { findNodeAtLocation, parseTree } from "jsonc-parser";
import { z } from "zod";
import { errorMessage, SshMcpError } from "../errors.js";
import { builtinProfiles } from "./builtin.js";
import { configPathFrom, homeDir, runtimeDirFrom } from "./paths.js";
import { profileSchema, profilesFileSchema, type Profile } from "./schema.js";
import { readSshConfig, type SshConfigHost } from "./ssh-config.js";

/**
 * Defaults, then the profiles file, then environment, then flags, into one validated Config.
 * This is the only module that reads process.env (callers pass it in, so tests can too).
 */
export interface Flags {
  config?: string;
  runtimeDir?: string;
  viewerHost?: string;
  viewerPort?: string;
}

export interface Timing {
  /** Quiet period that ends an idle-completed command or a send_text without wait_for. */
  idleMs: number;
  /** How long open_session waits for the login to settle or fail. */
  connectTimeoutMs: number;
  /** How often the health monitor looks at the panes. */
  healthIntervalMs: number;
  /** Longest quiet between two progress notifications of a call with a progress token. */
  progressHeartbeatMs: number;
  /** How long an ask_human_secret page stays usable (default 5 minutes). */
  humanSecretTtlMs?: number;
  /** How long an approval (confirm_patterns) waits for the human's answer. */
  approvalTimeoutMs: number;
}

export interface Config {
  configPath: string;
  configFound: boolean;
  /**
   * The profiles in force. Live: a reload (catalog.ts) replaces its entries in place, so every
   * holder of this object sees the new ones at their next lookup.
   */
  profiles: Record<string, Profile>;
  /** The last good reading of the configuration (profiles, ssh config files, notes). */
  profileSet: ProfileSet;
  /** Reads the configuration anew (throws CONFIG_ERROR naming file and line). */
  reload: () => ProfileSet;
  /** $HOME (ssh runs with it: relative Includes and `~` follow it). */
  home: string;
  /** ServerAliveInterval of a profile that sets none (SSH_MCP_KEEPALIVE_INTERVAL, default 30). */
  keepalive: number;
  runtimeDir: string;
  clientLabel: string;
  logPath?: string;
  transcriptsDir?: string;
  tmuxSocket: string;
  viewerHost: string;
  viewerPort: "auto" | "off" | number;
  timing: Timing;
  /** Largest output put in one execute_command result (head and tail are kept). */
  resultOutputChars: number;
  /** Transcript retention per instance directory (0: keep). */
  retention: { days: number; maxFiles: number };
  /** Live terminals the viewer streams at once: per session, and in all. */
  viewerLive: { perSession: number; total: number };
}

export function expandPath(p: string, base: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

function formatIssues(file: string, err: z.ZodError, lines: Record<string, number>): string {
  return err.issues
    .map((i) => {
      const [first, name, ...field] = i.path.map(String);
      if (first === "profiles" && name !== undefined) {
        const line = lines[name];
        return `${file}${line ? `: line ${line}` : ""}: profile '${name}'${field.length ? `, field '${field.join(".")}'` : ""}: ${i.message}`;
      }
      return `${file}: ${i.path.length ? `field '${i.path.join(".")}'` : "top level"}: ${i.message}`;
    })
    .join("; ");
}

function parseIntEnv(
  name: string,
  value: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Environment variable ${name}='${value}' must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ""}.`,
    );
  }
  return n;
}

function parseViewerPort(value: string): "auto" | "off" | number {
  if (value === "auto" || value === "off") return value;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Viewer port '${value}' must be auto, off or a port number 1-65535.`,
    );
  }
  return n;
}

/** What the profiles file holds, validated; the file's profiles with their line. */
interface ProfilesFile {
  found: boolean;
  profiles: Record<string, z.infer<typeof profilesFileSchema>["profiles"][string]>;
  lines: Record<string, number>;
  allowAdhocTargets: boolean;
  sshConfig?: string | false;
}

/** The 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

/**
 * The line of each profile's key (jsonc-parser's tree keeps offsets; JSON.parse does not), and a
 * name given twice: JSON keeps only the last, so the first would be dropped without a word.
 */
function profileKeyLines(configPath: string, text: string): Record<string, number> {
  const lines = Object.create(null) as Record<string, number>;
  const node = findNodeAtLocation(parseTree(text) ?? { type: "null", offset: 0, length: 0 }, ["profiles"]);
  for (const prop of node?.type === "object" ? (node.children ?? []) : []) {
    const key = prop.children?.[0];
    if (typeof key?.value !== "string") continue;
    const line = lineAt(text, key.offset);
    if (lines[key.value] !== undefined) {
      throw new SshMcpError(
        "CONFIG_ERROR",
        `${configPath}: line ${line}: profile '${key.value}' is defined twice (first at line ${lines[key.value]}): JSON would keep only this one. Remove or rename one of them.`,
      );
    }
    lines[key.value] = line;
  }
  return lines;
}

function readProfilesFile(configPath: string): ProfilesFile {
  if (!existsSync(configPath)) return { found: false, profiles: {}, lines: {}, allowAdhocTargets: false };
  let text: string;
  let raw: unknown;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (err) {
    throw new SshMcpError("CONFIG_ERROR", `${configPath}: cannot be read (${errorMessage(err)}).`);
  }
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec(errorMessage(err));
    const where = at ? `line ${lineAt(text, Number(at[1]))}: ` : "";
    throw new SshMcpError(
      "CONFIG_ERROR",
      `${configPath}: ${where}not valid JSON (${errorMessage(err)}). Fix the file or point SSH_MCP_CONFIG elsewhere.`,
    );
  }
  const lines = profileKeyLines(configPath, text);
  const parsed = profilesFileSchema.safeParse(raw);
  if (!parsed.success) throw new SshMcpError("CONFIG_ERROR", formatIssues(configPath, parsed.error, lines));
  return {
    found: true,
    profiles: parsed.data.profiles,
    lines,
    allowAdhocTargets: parsed.data.allow_adhoc_targets,
    sshConfig: parsed.data.ssh_config,
  };
}

/**
 * A note about the configuration: list_profiles and the log show it (never fatal). `info` says
 * what ssh-mcp decided (a Host that is no profile, and why); doctor fails on the others (an
 * Include loop, an unreadable file).
 */
export interface ConfigNote {
  file: string;
  line?: number;
  message: string;
  info?: boolean;
}

/** The profiles of one reading of the configuration (the initial load, or a reload). */
export interface ProfileSet {
  profiles: Record<string, Profile>;
  found: boolean;
  allowAdhocTargets: boolean;
  /** The ssh config whose Hosts are profiles (null: none is read). */
  sshConfigPath: string | null;
  /** Every ssh config file read (Includes too) and the directories Include patterns look in. */
  sshFiles: string[];
  sshDirs: string[];
  /** Every concrete Host alias of the ssh config (profiles or not). */
  sshAliases: string[];
  /** Hosts that are no profile of their own, and the profile that opens them (a claim, a twin). */
  owners: Record<string, string>;
  /** The ssh config's Include patterns, absolute: a new file matching one is read on the next reload. */
  sshPatterns: string[];
  notes: ConfigNote[];
}

/**
 * The ssh config to read: $SSH_MCP_SSH_CONFIG (`off`: none), else the profiles file's
 * `ssh_config` (false: none; relative to the file), else ~/.ssh/config of $HOME.
 */
function sshConfigPathFrom(env: NodeJS.ProcessEnv, file: ProfilesFile, configPath: string): string | null {
  const fromEnv = env.SSH_MCP_SSH_CONFIG;
  let path: string | null;
  if (fromEnv !== undefined && fromEnv !== "") {
    path = /^(off|none|false)$/i.test(fromEnv) ? null : resolve(homeDir(env), fromEnv);
  } else if (file.sshConfig === false) path = null;
  else if (typeof file.sshConfig === "string") path = expandPath(file.sshConfig, dirname(configPath));
  else path = join(homeDir(env), ".ssh", "config");
  // The path goes into an `Include` line of ssh-mcp's -F file: one word, nothing that could end it.
  // eslint-disable-next-line no-control-regex
  if (path && /[\x00-\x1f\x7f"]/.test(path)) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `The ssh config path ${JSON.stringify(path)} holds a control character or a double quote: rename it, or set SSH_MCP_SSH_CONFIG=off.`,
    );
  }
  return path;
}

/**
 * Built-in profiles, then every concrete Host of the ssh config, then the profiles file (an
 * entry of a Host's name overrides it; one with no host is that Host). Throws CONFIG_ERROR
 * (naming file and line) for a broken profiles file; what is wrong in the ssh config is a note.
 */
export function loadProfileSet(
  configPath: string,
  env: NodeJS.ProcessEnv,
  defaultKeepalive: number,
  runtimeDir: string,
  labPort: number,
): ProfileSet {
  const file = readProfilesFile(configPath);
  const sshConfigPath = sshConfigPathFrom(env, file, configPath);
  const ssh = sshConfigPath
    ? readSshConfig(sshConfigPath, homeDir(env))
    : { hosts: [], files: [], dirs: [], patterns: [], problems: [] };
  const notes: ConfigNote[] = [...ssh.problems];
  // No prototype: a profile named `__proto__` or `constructor` asked for by a tool call is
  // simply unknown, never Object.prototype.
  const profiles: Record<string, Profile> = Object.assign(
    Object.create(null) as Record<string, Profile>,
    builtinProfiles(runtimeDir, labPort, defaultKeepalive),
  );
  const aliases = new Map<string, SshConfigHost>();
  // A Host a profiles-file entry connects to (ssh_config_host) is that entry's, with its
  // security, secrets and approvals: never also a profile of its own, unrestricted.
  // A Host a profiles-file entry connects to (by its name, ssh_config_host, or host) is that
  // entry's. Other Hosts reaching the same machine go after ssh -G (catalog.ts, dropTwins).
  const claimed = new Map<string, string>();
  const hostNames = new Set(ssh.hosts.map((h) => h.alias));
  for (const [name, p] of Object.entries(file.profiles)) {
    if (p.ssh_config_host) claimed.set(p.ssh_config_host, name);
    else if (!p.host && hostNames.has(name)) claimed.set(name, name);
    else if (p.host && hostNames.has(p.host)) claimed.set(p.host, name);
  }
  for (const h of ssh.hosts) {
    const owner = claimed.get(h.alias);
    if (owner !== undefined && owner !== h.alias) {
      // Shown on the entry (source.overrides), not as a note: this is what the operator wrote.
      aliases.set(h.alias, h);
      continue;
    }
    if (profiles[h.alias]) {
      notes.push({
        file: h.file,
        line: h.line,
        info: true,
        message: `Host ${h.alias} is not a profile: '${h.alias}' is a built-in profile's name. To open this Host, add a profile of another name with "ssh_config_host": "${h.alias}" to ${configPath}.`,
      });
      continue;
    }
    aliases.set(h.alias, h);
    profiles[h.alias] = {
      ...profileSchema.parse({}),
      name: h.alias,
      host: h.alias,
      ssh_config_host: h.alias,
      keepalive_interval: defaultKeepalive,
      origin: { kind: "ssh_config", file: h.file, line: h.line },
    };
  }
  const base = dirname(configPath);
  for (const [name, p] of Object.entries(file.profiles)) {
    const where = `${configPath}${file.lines[name] ? `: line ${file.lines[name]}` : ""}`;
    checkPatterns(where, name, p);
    const alias = p.ssh_config_host ?? (p.host ? undefined : aliases.get(name) ? name : undefined);
    if (!p.host && !alias) {
      throw new SshMcpError(
        "CONFIG_ERROR",
        `${where}: profile '${name}', field 'host': missing. Give host, or ssh_config_host naming a Host of ${sshConfigPath ?? "your ssh config"} (a profile named like a Host is that Host).`,
      );
    }
    const shadowed = aliases.get(alias ?? (p.host && aliases.has(p.host) ? p.host : name));
    profiles[name] = {
      ...p,
      name,
      host: p.host ?? (alias as string),
      ...(alias ? { ssh_config_host: alias } : {}),
      keepalive_interval: p.keepalive_interval ?? defaultKeepalive,
      key_filename: p.key_filename ? expandPath(p.key_filename, base) : undefined,
      known_hosts_file: p.known_hosts_file ? expandPath(p.known_hosts_file, base) : undefined,
      origin: {
        kind: "profiles_file",
        file: configPath,
        ...(file.lines[name] ? { line: file.lines[name] } : {}),
        ...(shadowed ? { overrides: `${shadowed.file}:${shadowed.line}` } : {}),
      },
    };
  }
  return {
    profiles,
    found: file.found,
    allowAdhocTargets: env.SSH_MCP_ALLOW_ADHOC_TARGETS
      ? /^(1|true|yes|on)$/i.test(env.SSH_MCP_ALLOW_ADHOC_TARGETS)
      : file.allowAdhocTargets,
    sshConfigPath,
    sshFiles: ssh.files,
    sshDirs: ssh.dirs,
    sshPatterns: ssh.patterns,
    sshAliases: ssh.hosts.map((h) => h.alias),
    owners: Object.fromEntries([...claimed].filter(([alias, owner]) => alias !== owner)),
    notes,
  };
}

/** The profile's regexes compile (JavaScript semantics: prompt_regex, route, allow/deny). */
function checkPatterns(where: string, name: string, p: ProfilesFile["profiles"][string]): void {
  for (const [field, pattern] of [
    ["prompt_regex", p.prompt_regex],
    ...p.route.map((s, i) => [`route.${i}.expect`, s.expect] as const),
    ...p.security.allow_patterns.map((s, i) => [`security.allow_patterns.${i}`, s] as const),
    ...p.security.deny_patterns.map((s, i) => [`security.deny_patterns.${i}`, s] as const),
  ] as const) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern);
    } catch (err) {
      throw new SshMcpError(
        "CONFIG_ERROR",
        `${where}: profile '${name}', field '${field}': invalid regex (${(err as Error).message}).`,
      );
    }
  }
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const configPath = configPathFrom(flags.config, env, cwd);
  const keepalive = parseIntEnv("SSH_MCP_KEEPALIVE_INTERVAL", env.SSH_MCP_KEEPALIVE_INTERVAL, 0) ?? 30;
  const runtimeDir = runtimeDirFrom(flags.runtimeDir, env, cwd);
  const labPort = parseIntEnv("SSH_MCP_LAB_PORT", env.SSH_MCP_LAB_PORT, 1) ?? 2222;
  const set = loadProfileSet(configPath, env, keepalive, runtimeDir, labPort);
  const socket = env.SSH_MCP_TMUX_SOCKET ?? "ssh-mcp";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(socket)) {
    throw new SshMcpError("CONFIG_ERROR", `SSH_MCP_TMUX_SOCKET='${socket}' must match [A-Za-z0-9_.-]{1,64}.`);
  }
  return {
    configPath,
    configFound: set.found,
    profiles: set.profiles,
    profileSet: set,
    reload: () => loadProfileSet(configPath, env, keepalive, runtimeDir, labPort),
    home: homeDir(env),
    keepalive,
    runtimeDir,
    clientLabel: env.SSH_MCP_CLIENT_LABEL ?? "",
    logPath: env.SSH_MCP_LOG_PATH ? resolve(cwd, env.SSH_MCP_LOG_PATH) : undefined,
    transcriptsDir: env.SSH_MCP_TRANSCRIPTS_DIR ? resolve(cwd, env.SSH_MCP_TRANSCRIPTS_DIR) : undefined,
    tmuxSocket: socket,
    viewerHost: flags.viewerHost ?? env.SSH_MCP_VIEWER_HOST ?? "127.0.0.1",
    viewerPort: parseViewerPort(flags.viewerPort ?? env.SSH_MCP_VIEWER_PORT ?? "auto"),
    timing: {
      idleMs: parseIntEnv("SSH_MCP_IDLE_MS", env.SSH_MCP_IDLE_MS, 50) ?? 800,
      connectTimeoutMs:
        parseIntEnv("SSH_MCP_CONNECT_TIMEOUT_MS", env.SSH_MCP_CONNECT_TIMEOUT_MS, 500) ?? 20_000,
      healthIntervalMs:
        parseIntEnv("SSH_MCP_HEALTH_INTERVAL_MS", env.SSH_MCP_HEALTH_INTERVAL_MS, 100) ?? 2000,
      progressHeartbeatMs:
        parseIntEnv("SSH_MCP_PROGRESS_HEARTBEAT_MS", env.SSH_MCP_PROGRESS_HEARTBEAT_MS, 100, 10_000) ?? 5000,
      humanSecretTtlMs: parseIntEnv("SSH_MCP_HUMAN_SECRET_TTL_MS", env.SSH_MCP_HUMAN_SECRET_TTL_MS, 1000),
      approvalTimeoutMs:
        parseIntEnv("SSH_MCP_APPROVAL_TIMEOUT_MS", env.SSH_MCP_APPROVAL_TIMEOUT_MS, 1000) ?? 300_000,
    },
    resultOutputChars:
      parseIntEnv("SSH_MCP_RESULT_OUTPUT_CHARS", env.SSH_MCP_RESULT_OUTPUT_CHARS, 1000) ?? 64_000,
    retention: {
      days: parseIntEnv("SSH_MCP_TRANSCRIPT_RETENTION_DAYS", env.SSH_MCP_TRANSCRIPT_RETENTION_DAYS, 0) ?? 0,
      maxFiles: parseIntEnv("SSH_MCP_TRANSCRIPT_MAX_FILES", env.SSH_MCP_TRANSCRIPT_MAX_FILES, 0) ?? 0,
    },
    viewerLive: {
      perSession: parseIntEnv("SSH_MCP_VIEWER_LIVE_PER_SESSION", env.SSH_MCP_VIEWER_LIVE_PER_SESSION, 1) ?? 8,
      total: parseIntEnv("SSH_MCP_VIEWER_LIVE_MAX", env.SSH_MCP_VIEWER_LIVE_MAX, 1) ?? 32,
    },
  };
}

/** Environment variables that hold secrets: kept out of tmux and the lab's environment. */
export function secretEnvNames(config: Config): string[] {
  const names = new Set(["SSH_MCP_KEY_PASSPHRASE"]);
  for (const p of Object.values(config.profiles)) {
    if (p.passphrase_env) names.add(p.passphrase_env);
    if (p.password_env) names.add(p.password_env);
    for (const secret of Object.values(p.secrets ?? {})) names.add(secret.env);
  }
  return [...names];
}
