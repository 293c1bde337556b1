import { resolve } from "node:path";
import { loadConfig, type Flags } from "../config/load.js";
import { startViewer } from "../viewer/server.js";

/** `ssh-mcp viewer [--port N] [--transcripts-dir DIR]`: the history viewer on its own. */
export async function runViewer(
  flags: Flags,
  env: NodeJS.ProcessEnv,
  transcriptsDir?: string,
): Promise<number> {
  const config = loadConfig(flags, env);
  const viewer = await startViewer({
    host: config.viewerHost,
    port: config.viewerPort === "off" ? "auto" : config.viewerPort,
    runtimeDir: config.runtimeDir,
    extraDirs: transcriptsDir ? [resolve(transcriptsDir)] : [],
    // Whether a session's commands and typing are shown redacted: its profile's choice.
    profiles: config.profiles,
  });
  process.stdout.write(`ssh-mcp history viewer: ${viewer.url()}\n`);
  await new Promise<void>((done) => {
    process.once("SIGINT", () => done());
    process.once("SIGTERM", () => done());
  });
  await viewer.close();
  return 0;
}
