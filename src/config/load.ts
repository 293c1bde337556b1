import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { errorMessage, SshMcpError } from "../errors.js";
import { builtinProfiles } from "./builtin.js";
import { configPathFrom, runtimeDirFrom } from "./paths.js";
import { profilesFileSchema, type Profile } from "./schema.js";

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
  profiles: Record<string, Profile>;
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

function formatIssues(file: string, err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const [first, name, ...field] = i.path.map(String);
      if (first === "profiles" && name !== undefined) {
        return `${file}: profile '${name}'${field.length ? `, field '${field.join(".")}'` : ""}: ${i.message}`;
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

function loadProfiles(
  configPath: string,
  defaultKeepalive: number,
): {
  profiles: Record<string, Profile>;
  found: boolean;
} {
  if (!existsSync(configPath)) return { profiles: {}, found: false };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, "utf8"));
  } catch (err) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `${configPath}: not valid JSON (${errorMessage(err)}). Fix the file or point SSH_MCP_CONFIG elsewhere.`,
    );
  }
  const parsed = profilesFileSchema.safeParse(raw);
  if (!parsed.success) throw new SshMcpError("CONFIG_ERROR", formatIssues(configPath, parsed.error));
  const base = dirname(configPath);
  const profiles = Object.create(null) as Record<string, Profile>;
  for (const [name, p] of Object.entries(parsed.data.profiles)) {
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
          `${configPath}: profile '${name}', field '${field}': invalid regex (${(err as Error).message}).`,
        );
      }
    }
    profiles[name] = {
      ...p,
      name,
      keepalive_interval: p.keepalive_interval ?? defaultKeepalive,
      key_filename: p.key_filename ? expandPath(p.key_filename, base) : undefined,
      known_hosts_file: p.known_hosts_file ? expandPath(p.known_hosts_file, base) : undefined,
    };
  }
  return { profiles, found: true };
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const configPath = configPathFrom(flags.config, env, cwd);
  const keepalive = parseIntEnv("SSH_MCP_KEEPALIVE_INTERVAL", env.SSH_MCP_KEEPALIVE_INTERVAL, 0) ?? 30;
  const { profiles: fromFile, found } = loadProfiles(configPath, keepalive);
  const runtimeDir = runtimeDirFrom(flags.runtimeDir, env, cwd);
  const labPort = parseIntEnv("SSH_MCP_LAB_PORT", env.SSH_MCP_LAB_PORT, 1) ?? 2222;
  // No prototype: a profile named `__proto__` or `constructor` asked for by a tool call is
  // simply unknown, never Object.prototype.
  const profiles: Record<string, Profile> = Object.assign(
    Object.create(null) as Record<string, Profile>,
    builtinProfiles(runtimeDir, labPort, keepalive),
    fromFile,
  );
  const socket = env.SSH_MCP_TMUX_SOCKET ?? "ssh-mcp";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(socket)) {
    throw new SshMcpError("CONFIG_ERROR", `SSH_MCP_TMUX_SOCKET='${socket}' must match [A-Za-z0-9_.-]{1,64}.`);
  }
  return {
    configPath,
    configFound: found,
    profiles,
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
