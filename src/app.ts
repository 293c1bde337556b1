import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { secretEnvNames, type Config } from "./config/load.js";
import { createLogger, type Logger } from "./log.js";
import { createRuntime, serverMeta, writeServerMeta, type Runtime } from "./runtime.js";
import { SessionManager } from "./session/manager.js";
import { serverAlive } from "./session/adopt.js";
import { askpassDir as makeAskpassDir, AskpassServer } from "./ssh/askpass-server.js";
import { createTmux } from "./session/tmux.js";
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

export function createApp(config: Config, env: NodeJS.ProcessEnv): App {
  const runtime = createRuntime(config);
  const logger = createLogger({
    path: runtime.logPath,
    stderr: true,
    level: env.SSH_MCP_DEBUG ? "debug" : "info",
  });
  const tmux = createTmux(config.tmuxSocket, { env, secretEnvNames: secretEnvNames(config) });
  tmux.onError = (err) => logger.debug("tmux error", { error: err.message });
  tmux.onControlFailure = (err) => logger.warn("tmux control client failed", { error: err.message });
  tmux.enableControl();
  const askpassDir = makeAskpassDir(tmpdir(), serverAlive);
  const askpass = new AskpassServer(askpassDir, fileURLToPath(new URL("./ssh/askpass.js", import.meta.url)));
  let viewer: RunningViewer | undefined;
  const viewerUrl = (sessionId?: string, bare = false): string | null => {
    if (!viewer) return null;
    if (bare) return sessionId ? `${viewer.baseUrl}/sessions/${sessionId}` : viewer.baseUrl;
    return viewer.url(sessionId);
  };
  const manager = new SessionManager({
    config,
    logger,
    tmux,
    instanceId: runtime.instanceId,
    transcriptsDir: runtime.transcriptsDir,
    tapScript: fileURLToPath(new URL("./transcript/tap.js", import.meta.url)),
    askpass,
    env,
    viewerUrl,
  });
  const meta = (): Record<string, unknown> => serverMeta(config, runtime, viewer?.baseUrl ?? null);
  writeServerMeta(runtime.metaPath, meta());
  logger.info("server started", {
    instance: runtime.instanceId,
    config: config.configPath,
    config_found: config.configFound,
    profiles: Object.keys(config.profiles),
    tmux_socket: config.tmuxSocket,
  });
  let closed = false;
  return {
    config,
    runtime,
    logger,
    manager,
    meta,
    async startViewer() {
      if (config.viewerPort === "off") return;
      try {
        viewer = await startViewer({
          host: config.viewerHost,
          port: config.viewerPort,
          runtimeDir: config.runtimeDir,
          extraDirs: config.transcriptsDir ? [config.transcriptsDir] : [],
          manager,
          serverMeta: meta,
          env,
          secretEnvNames: secretEnvNames(config),
          liveLimits: config.viewerLive,
          profiles: config.profiles,
          tokenFile: join(runtime.instanceDir, "viewer_token"),
          operatorTokenFile: join(runtime.instanceDir, "viewer_operator_token"),
        });
        writeServerMeta(runtime.metaPath, meta());
        // The operator's token (typing and the input lock as the human) stays in its 0600 file,
        // read by `ssh-mcp ls`: never in a log (an MCP host may keep stderr where an agent reads).
        logger.info("viewer listening", { url: viewer.baseUrl, operator_url: "ssh-mcp ls shows it" });
      } catch (err) {
        // The MCP server works without its viewer: say so once, keep serving.
        logger.warn("viewer not started", { error: err instanceof Error ? err.message : String(err) });
      }
    },
    close() {
      if (closed) return;
      closed = true;
      void viewer?.close();
      manager.shutdown();
      tmux.closeControl();
      askpass.close();
      rmSync(askpassDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
      logger.info("server stopped; tmux sessions stay alive for the next server", {
        instance: runtime.instanceId,
      });
    },
  };
}
