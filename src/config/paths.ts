import { userInfo } from "node:os";
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { SshMcpError } from "../errors.js";

/**
 * Where ssh-mcp keeps its files when nothing says otherwise: per user, never per working
 * directory (docs/configuration.md). The tmux socket is per user too, so a server started by any
 * client from any directory finds the same sessions, transcripts and lab. XDG base directories,
 * which macOS users get as ~/.config and ~/.local/state as well:
 * - profiles: $XDG_CONFIG_HOME/ssh-mcp/profiles.json, else ~/.config/ssh-mcp/profiles.json;
 * - runtime (instances, transcripts, logs, the lab, bench results): $XDG_STATE_HOME/ssh-mcp,
 *   else ~/.local/state/ssh-mcp.
 * An XDG variable that is not an absolute path is ignored, as the specification says.
 */
function xdgDir(
  env: NodeJS.ProcessEnv,
  name: "XDG_CONFIG_HOME" | "XDG_STATE_HOME",
  fallback: string,
): string {
  const v = env[name];
  return v && isAbsolute(v) ? v : join(homeDir(env), fallback);
}

/**
 * The user's home: $HOME when absolute, else the account's home directory. Never a relative
 * path: that would put transcripts under whatever directory the server was started in.
 */
export function homeDir(env: NodeJS.ProcessEnv): string {
  if (env.HOME && isAbsolute(env.HOME)) return env.HOME;
  let home = "";
  try {
    home = userInfo().homedir;
  } catch {
    // no passwd entry for this uid (a container's arbitrary user)
  }
  if (isAbsolute(home)) return home;
  throw new SshMcpError(
    "CONFIG_ERROR",
    "HOME is not an absolute path and this user has no home directory: set SSH_MCP_CONFIG and SSH_MCP_RUNTIME_DIR (or --config and --runtime-dir).",
  );
}

export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return join(xdgDir(env, "XDG_CONFIG_HOME", ".config"), "ssh-mcp", "profiles.json");
}

function defaultRuntimeDir(env: NodeJS.ProcessEnv): string {
  return join(xdgDir(env, "XDG_STATE_HOME", join(".local", "state")), "ssh-mcp");
}

/** The runtime directory: --runtime-dir, else $SSH_MCP_RUNTIME_DIR (relative to cwd), else per user. */
export function runtimeDirFrom(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const given = flag ?? env.SSH_MCP_RUNTIME_DIR;
  return given ? resolve(cwd, given) : defaultRuntimeDir(env);
}

/** The profiles file: --config, else $SSH_MCP_CONFIG (relative to cwd), else per user. */
export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const given = flag ?? env.SSH_MCP_CONFIG;
  return given ? resolve(cwd, given) : defaultConfigPath(env);
}

/**
 * Where earlier versions read profiles from (the working directory's config/profiles.json), when
 * such a file exists, is no longer what is read, and no per-user file replaces it: doctor and
 * the server's log say so.
 */
export function unreadLegacyConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd: string,
  configPath: string,
): string | undefined {
  const legacy = resolve(cwd, "config", "profiles.json");
  if (flag || env.SSH_MCP_CONFIG || legacy === configPath || !existsSync(legacy)) return undefined;
  // With a per-user file in place, the one here is simply another file (a checkout's own).
  return existsSync(configPath) ? undefined : legacy;
}
