import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import type { SessionManager } from "../session/manager.js";
import { buildViewerApp, type ViewerOptions } from "./app.js";
import type { LiveLimits } from "./limits.js";
import { TranscriptStore } from "./store.js";

/**
 * Starts the viewer: `auto` takes the first free port from 8765, a number that port, `off`
 * nothing. Returns its base URL and two tokens: the read token every route requires (it is in
 * the viewer_url an agent gets), and the operator's token, which also lets a page take the
 * input lock and type as the human (the agent is never given it: it is in the instance's
 * `viewer_operator_token` file, 0600, which `ssh-mcp ls` reads). close() is safe twice.
 */
export interface RunningViewer {
  baseUrl: string;
  token: string;
  operatorToken: string;
  url(sessionId?: string): string;
  /** The same page with the operator's token: the human's URL. */
  operatorUrl(sessionId?: string): string;
  close(): Promise<void>;
}

export interface StartViewerOptions {
  host: string;
  port: "auto" | number;
  runtimeDir: string;
  extraDirs?: string[];
  manager?: SessionManager;
  serverMeta?: () => Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  secretEnvNames?: () => string[];
  liveLimits?: LiveLimits;
  profiles?: ViewerOptions["profiles"];
  tokenFile?: string;
  operatorTokenFile?: string;
}

export async function startViewer(opts: StartViewerOptions): Promise<RunningViewer> {
  const token = randomBytes(24).toString("base64url");
  const operatorToken = randomBytes(24).toString("base64url");
  if (opts.tokenFile) writeFileSync(opts.tokenFile, token + "\n", { mode: 0o600 });
  if (opts.operatorTokenFile) writeFileSync(opts.operatorTokenFile, operatorToken + "\n", { mode: 0o600 });
  const store = new TranscriptStore(opts.runtimeDir, opts.extraDirs ?? []);
  await store.start();
  let port = 0;
  const app: FastifyInstance = buildViewerApp({
    store,
    token,
    operatorToken,
    host: opts.host,
    port: () => port,
    manager: opts.manager,
    serverMeta: opts.serverMeta,
    env: opts.env,
    secretEnvNames: opts.secretEnvNames,
    liveLimits: opts.liveLimits,
    profiles: opts.profiles,
  });
  const candidates = opts.port === "auto" ? Array.from({ length: 100 }, (_, i) => 8765 + i) : [opts.port];
  const listening = await listenOnFirstFree(app, opts.host, candidates);
  port = listening.port;
  if (!port) {
    await store.close();
    throw new Error(
      `viewer could not listen on ${opts.host}:${String(opts.port)}: ${(listening.err as Error)?.message}`,
    );
  }
  const hostPart = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const baseUrl = `http://${hostPart}:${port}`;
  let closed = false;
  const url = (t: string, sessionId?: string): string =>
    sessionId ? `${baseUrl}/sessions/${sessionId}?token=${t}` : `${baseUrl}/?token=${t}`;
  return {
    baseUrl,
    token,
    operatorToken,
    url: (sessionId) => url(token, sessionId),
    operatorUrl: (sessionId) => url(operatorToken, sessionId),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
      await store.close();
    },
  };
}

/** Listens on the first of `candidates` that is free: its port, or 0 and the error that stopped it. */
async function listenOnFirstFree(
  app: FastifyInstance,
  host: string,
  candidates: number[],
): Promise<{ port: number; err?: unknown }> {
  let lastErr: unknown;
  for (const p of candidates) {
    try {
      await app.listen({ host, port: p });
      return { port: p };
    } catch (err) {
      lastErr = err;
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") break;
    }
  }
  return { port: 0, err: lastErr };
}
