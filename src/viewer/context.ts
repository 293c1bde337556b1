import type { FastifyReply, FastifyRequest } from "fastify";
import type { SessionManager } from "../session/manager.js";
import type { LiveLimits } from "./limits.js";
import { SESSION_ID_RE, type TranscriptStore } from "./store.js";

/**
 * The browser viewer (fastify). Built by a factory so tests drive it with app.inject(). With a
 * session manager it also serves the live terminal (tmux attach -r) and human input (which
 * needs the input lock and is recorded with actor "human"); without one it is a history viewer.
 */
export interface ViewerOptions {
  store: TranscriptStore;
  /** Reads: every page and API route. */
  token: string;
  /** Reads and the human's input: taking the lock, typing (never handed to the agent). */
  operatorToken?: string;
  /** Host the server binds; Host headers must name it (or a loopback name) with our port. */
  host: string;
  /** Port for Host/Origin checks (the real one once listening). */
  port: () => number;
  manager?: SessionManager;
  serverMeta?: () => Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Variables the live terminal's tmux client must not inherit. */
  secretEnvNames?: () => string[];
  /** Live streams at once, per session and in all (429 TOO_MANY_LIVE_STREAMS beyond). */
  liveLimits?: LiveLimits;
  /**
   * Profiles by name, for whether a session's profile redacts when no live session says so
   * (a history viewer, another instance's transcript). Unknown profiles redact.
   */
  profiles?: Record<string, { security: { redact_transcripts: boolean } }>;
  /** How often a redacted live screen is captured when the pane writes nothing (ms). */
  livePollMs?: number;
}

/** What the viewer's plugins share (passed to each as its `ctx` option). */
export interface ViewerContext {
  opts: ViewerOptions;
  /** Whether a request came with the operator's token (the human), not the read token. Set by the guards. */
  operators: WeakMap<object, boolean>;
}

export interface ViewerPluginOptions {
  ctx: ViewerContext;
}

export function fail(reply: FastifyReply, status: number, code: string, error: string) {
  return reply.code(status).send({ ok: false, code, error });
}

/** Takes the response over for server-sent events (the security headers are on reply.raw). */
export function startEventStream(reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  return res;
}

/** Refuses (403 OPERATOR_ONLY) a request that did not come with the operator's token. */
export function operatorOnly(ctx: ViewerContext, req: object, reply: FastifyReply): FastifyReply | undefined {
  return ctx.operators.get(req)
    ? undefined
    : fail(
        reply,
        403,
        "OPERATOR_ONLY",
        "Taking the input lock and typing need the operator's URL (ssh-mcp ls shows it); the viewer_url an agent gets is read-only.",
      );
}

/** The token a page goes on using: the one it was opened with. */
export function pageToken(ctx: ViewerContext, req: object): string {
  return ctx.operators.get(req) && ctx.opts.operatorToken ? ctx.opts.operatorToken : ctx.opts.token;
}

/** Whether what the viewer shows of a session goes through the redactor (its profile's choice). */
export function redacts(ctx: ViewerContext, id: string): boolean {
  const { opts } = ctx;
  const s = opts.manager?.known(id);
  if (s) return s.profile.security.redact_transcripts;
  const name = opts.store.files.get(id)?.meta.profile;
  const p =
    typeof name === "string" && opts.profiles && Object.hasOwn(opts.profiles, name)
      ? opts.profiles[name]
      : undefined;
  return p?.security.redact_transcripts ?? true;
}

/** The route's session id if it is well formed and known; else undefined, the refusal sent. */
export function sessionParam(
  ctx: ViewerContext,
  req: FastifyRequest,
  reply: FastifyReply,
): string | undefined {
  const id = (req.params as { id?: string }).id ?? "";
  // `void fail(...)`: the refusal is sent here, and the caller returns the reply itself (a
  // FastifyReply is thenable, so it is marked as not awaited).
  if (!SESSION_ID_RE.test(id)) {
    void fail(reply, 400, "INVALID_ARGUMENT", "Invalid session id.");
    return undefined;
  }
  if (!ctx.opts.store.fresh(id)) {
    void fail(reply, 404, "UNKNOWN_SESSION", `Unknown session '${id}'.`);
    return undefined;
  }
  return id;
}
