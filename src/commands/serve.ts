import { loadConfig, type Flags } from "../config/load.js";
import { createApp } from "../app.js";
import { unreadLegacyConfig } from "../config/paths.js";
import { errorMessage, SshMcpError } from "../errors.js";
import { createMcpServer, serveStdio } from "../mcp/server.js";
import { discover } from "../session/adopt.js";
import { allTools } from "../tools/index.js";
import { applyRetention } from "../transcript/retention.js";

const VERSION = "0.1.0";

/** Runs the MCP stdio server until the client goes away. Returns -1: the process stays up. */
export async function runServe(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  let config;
  try {
    config = loadConfig(flags, env);
  } catch (err) {
    // A config error is reported once and clearly, never as a stack trace.
    process.stderr.write(`ssh-mcp: ${err instanceof SshMcpError ? err.message : String(err)}\n`);
    return 1;
  }
  const app = createApp(config, env);
  const legacy = unreadLegacyConfig(flags.config, env, process.cwd(), config.configPath);
  if (legacy) {
    app.logger.warn("a profiles file in the working directory is not read (docs/configuration.md)", {
      unread: legacy,
      read: config.configPath,
    });
  }
  // Adoption, the viewer and the MCP transport start together: a restarted server answers
  // `initialize` at once, and tools wait (manager.ready) for adoption and the viewer's URL.
  const viewer = app.startViewer();
  const adoption = app.manager.adoptOrphans().then(
    async (adopted) => {
      if (adopted.length) app.logger.info("adopted sessions", { count: adopted.length });
      // Retention runs once adoption knows which transcripts belong to live sessions.
      const live = new Set((await discover(app.manager)).map((r) => r.transcript));
      const deleted = applyRetention(config.runtimeDir, config.retention, live);
      if (deleted.length) app.logger.info("transcript retention", { deleted: deleted.length });
    },
    (err: unknown) => app.logger.error("adoption failed", { error: errorMessage(err) }),
  );
  app.manager.ready = Promise.all([adoption, viewer]).then(() => undefined);
  const mcp = createMcpServer({
    name: "ssh-mcp",
    version: VERSION,
    tools: allTools,
    context: { manager: app.manager, serverMeta: app.meta },
    logger: app.logger,
  });
  const stop = (): void => {
    app.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  await serveStdio(mcp, (why) => {
    app.logger.warn("MCP transport closed; exiting (sessions stay in tmux for the next server)", {
      reason: why,
    });
    stop();
  });
  return -1;
}
