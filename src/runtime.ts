import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config/load.js";

/**
 * The runtime layout: one directory per server instance, so several MCP
 * servers (several LLM windows) never mix logs or transcripts. Directories 0700, files 0600.
 */
export interface Runtime {
  instanceId: string;
  instanceDir: string;
  logPath: string;
  transcriptsDir: string;
  metaPath: string;
  startedAt: string;
}

function newInstanceId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `ssh-mcp-${ts}-${process.pid}-${randomBytes(2).toString("hex")}`;
}

/** Creates dir (and parents) 0700; a directory that already existed keeps its mode (it may be /tmp). */
function mkdirPrivate(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function createRuntime(config: Config): Runtime {
  const instanceId = newInstanceId();
  const instanceDir = join(config.runtimeDir, "instances", instanceId);
  mkdirPrivate(config.runtimeDir);
  mkdirPrivate(join(config.runtimeDir, "instances"));
  mkdirPrivate(instanceDir);
  const logPath = config.logPath ?? join(instanceDir, "logs", "ssh_mcp.log");
  const transcriptsDir = config.transcriptsDir ?? join(instanceDir, "transcripts");
  mkdirPrivate(join(logPath, ".."));
  mkdirPrivate(transcriptsDir);
  return {
    instanceId,
    instanceDir,
    logPath,
    transcriptsDir,
    metaPath: join(instanceDir, "server_meta.json"),
    startedAt: new Date().toISOString(),
  };
}

export function serverMeta(
  config: Config,
  rt: Runtime,
  viewerBaseUrl: string | null,
): Record<string, unknown> {
  return {
    server_instance_id: rt.instanceId,
    pid: process.pid,
    cwd: process.cwd(),
    started_at: rt.startedAt,
    client_label: config.clientLabel,
    viewer_base_url: viewerBaseUrl,
    log_path: rt.logPath,
    transcripts_dir: rt.transcriptsDir,
    config_path: config.configPath,
    tmux_socket: config.tmuxSocket,
  };
}

export function writeServerMeta(path: string, meta: Record<string, unknown>): void {
  writeFileSync(path, JSON.stringify(meta, null, 2) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
}
