import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { SessionManager } from "../session/manager.js";
import { buildViewerApp } from "./app.js";
import { TranscriptStore } from "./store.js";

/**
 * Starts the viewer: `auto` takes the first free port from 8765, a number that port, `off`
 * nothing. Returns its base URL and the token every route requires. close() is safe twice.
 */
export interface RunningViewer {
  baseUrl: string;
  token: string;
  url(sessionId?: string): string;
  close(): Promise<void>;
}

export async function startViewer(opts: {
  host: string;
  port: "auto" | number;
  runtimeDir: string;
  extraDirs?: string[];
  manager?: SessionManager;
  serverMeta?: () => Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  secretEnvNames?: string[];
  tokenFile?: string;
}): Promise<RunningViewer> {
  const token = randomBytes(24).toString("base64url");
  if (opts.tokenFile) writeFileSync(opts.tokenFile, token + "\n", { mode: 0o600 });
  const store = new TranscriptStore(opts.runtimeDir, opts.extraDirs ?? []);
  await store.start();
  let port = 0;
  const app: FastifyInstance = buildViewerApp({
    store,
    token,
    host: opts.host,
    port: () => port,
    manager: opts.manager,
    serverMeta: opts.serverMeta,
    env: opts.env,
    secretEnvNames: opts.secretEnvNames,
  });
  const candidates = opts.port === "auto" ? Array.from({ length: 100 }, (_, i) => 8765 + i) : [opts.port];
  let lastErr: unknown;
  for (const p of candidates) {
    try {
      await app.listen({ host: opts.host, port: p });
      port = p;
      break;
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") break;
    }
  }
  if (!port) {
    await store.close();
    throw new Error(
      `viewer could not listen on ${opts.host}:${String(opts.port)}: ${(lastErr as Error)?.message}`,
    );
  }
  const hostPart = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const baseUrl = `http://${hostPart}:${port}`;
  let closed = false;
  return {
    baseUrl,
    token,
    url: (sessionId) =>
      sessionId ? `${baseUrl}/sessions/${sessionId}?token=${token}` : `${baseUrl}/?token=${token}`,
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
      await store.close();
    },
  };
}
