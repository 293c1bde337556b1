import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { secretEnvNames, type Config } from "./config/load.js";
import { ProfileCatalog } from "./config/catalog.js";
import { errorMessage } from "./errors.js";
import { createLogger, type Logger } from "./log.js";
import { createRuntime, serverMeta, writeServerMeta, type Runtime } from "./runtime.js";
import { SessionManager } from "./session/manager.js";
import { serverAlive } from "./session/adopt.js";
import { askpassDir as makeAskpassDir, AskpassServer } from "./ssh/askpass-server.js";
import { createTmux, type SessionTmux } from "./session/tmux.js";
import { startViewer, type RunningViewer } from "./viewer/server.js";

/** Wires config, runtime dir, logger, tmux and the session manager; returns a way to stop. */
export interface App {
  config: Config;
  runtime: Runtime;
  logger: Logger;
  manager: SessionManager;
  meta(): Record<string, unknown>;
  startViewer(): Promise<void>;
  close(): void;
}

/** What createApp builds, shared by its steps (the viewer comes later, from startViewer). */
interface Parts {
  config: Config;
  catalog: ProfileCatalog;
  env: NodeJS.ProcessEnv;
  runtime: Runtime;
  logger: Logger;
  tmux: SessionTmux;
  askpassDir: string;
  askpass: AskpassServer;
  viewer?: RunningViewer;
}

export function createApp(config: Config, env: NodeJS.ProcessEnv): App {
  const runtime = createRuntime(config);
  const logger = createLogger({
    path: runtime.logPath,
    stderr: true,
    level: env.SSH_MCP_DEBUG ? "debug" : "info",
  });
  const tmux = startTmux(config, env, logger);
  const askpassDir = makeAskpassDir(tmpdir(), serverAlive);
  const askpass = new AskpassServer(askpassDir, fileURLToPath(new URL("./ssh/askpass.js", import.meta.url)));
  // The profiles stay live: the profiles file and the ssh config are watched (catalog.ts).
  const catalog = new ProfileCatalog(config, { env, logger, secretNames: () => secretEnvNames(config) });
  catalog.start(!/^(0|off|false|no)$/i.test(env.SSH_MCP_WATCH_CONFIG ?? ""));
  const parts: Parts = { config, catalog, env, runtime, logger, tmux, askpassDir, askpass };
  const manager = createManager(parts);
  const meta = (): Record<string, unknown> => serverMeta(config, runtime, parts.viewer?.baseUrl ?? null);
  writeServerMeta(runtime.metaPath, meta());
  logger.info("server started", {
    instance: runtime.instanceId,
    config: config.configPath,
    config_found: config.configFound,
    profiles: Object.keys(config.profiles),
    ssh_config: config.profileSet.sshConfigPath,
    tmux_socket: config.tmuxSocket,
  });
  let closed = false;
  return {
    config,
    runtime,
    logger,
    manager,
    meta,
    startViewer: () => startAppViewer(parts, manager, meta),
    close() {
      if (closed) return;
      closed = true;
      stop(parts, manager);
    },
  };
}

/** The server's tmux client, its failures logged, its control client starting. */
function startTmux(config: Config, env: NodeJS.ProcessEnv, logger: Logger): SessionTmux {
  const tmux = createTmux(config.tmuxSocket, { env, secretEnvNames: secretEnvNames(config) });
  tmux.onError = (err) => logger.debug("tmux error", { error: err.message });
  tmux.onControlFailure = (err) => logger.warn("tmux control client failed", { error: err.message });
  tmux.enableControl();
  return tmux;
}

/** The session manager; its viewer URLs follow the viewer once it listens (null before). */
function createManager(parts: Parts): SessionManager {
  const viewerUrl = (sessionId?: string, bare = false): string | null => {
    const { viewer } = parts;
    if (!viewer) return null;
    if (bare) return sessionId ? `${viewer.baseUrl}/sessions/${sessionId}` : viewer.baseUrl;
    return viewer.url(sessionId);
  };
  return new SessionManager({
    config: parts.config,
    logger: parts.logger,
    tmux: parts.tmux,
    instanceId: parts.runtime.instanceId,
    transcriptsDir: parts.runtime.transcriptsDir,
    tapScript: fileURLToPath(new URL("./transcript/tap.js", import.meta.url)),
    askpass: parts.askpass,
    env: parts.env,
    viewerUrl,
    catalog: parts.catalog,
  });
}

/** Starts the viewer (parts.viewer), unless it is off or cannot start: then the server goes on without it. */
async function startAppViewer(
  parts: Parts,
  manager: SessionManager,
  meta: () => Record<string, unknown>,
): Promise<void> {
  const { config, runtime, logger } = parts;
  if (config.viewerPort === "off") return;
  try {
    const viewer = await startViewer({
      host: config.viewerHost,
      port: config.viewerPort,
      runtimeDir: config.runtimeDir,
      extraDirs: config.transcriptsDir ? [config.transcriptsDir] : [],
      manager,
      serverMeta: meta,
      env: parts.env,
      secretEnvNames: () => secretEnvNames(config),
      liveLimits: config.viewerLive,
      profiles: config.profiles,
      tokenFile: join(runtime.instanceDir, "viewer_token"),
      operatorTokenFile: join(runtime.instanceDir, "viewer_operator_token"),
    });
    parts.viewer = viewer;
    writeServerMeta(runtime.metaPath, meta());
    // The operator's token (typing and the input lock as the human) stays in its 0600 file,
    // read by `ssh-mcp ls`: never in a log (an MCP host may keep stderr where an agent reads).
    logger.info("viewer listening", { url: viewer.baseUrl, operator_url: "ssh-mcp ls shows it" });
  } catch (err) {
    // The MCP server works without its viewer: say so once, keep serving.
    logger.warn("viewer not started", { error: errorMessage(err) });
  }
}

/** Stops what this server runs; its tmux sessions stay alive for the next server to adopt. */
function stop(parts: Parts, manager: SessionManager): void {
  // Not awaited: close() is synchronous (serve's stop() exits the process right after it), and
  // the viewer's socket goes with the process.
  void parts.viewer?.close();
  parts.catalog.close();
  manager.shutdown();
  parts.tmux.closeControl();
  parts.askpass.close();
  rmSync(parts.askpassDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  parts.logger.info("server stopped; tmux sessions stay alive for the next server", {
    instance: parts.runtime.instanceId,
  });
}
