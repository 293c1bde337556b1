import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import { SshMcpError } from "../errors.js";
import { checkTyped, shellParserReady } from "../security/policy.js";
import { acquireLock, activeLock, releaseLock } from "../session/locks.js";
import type { SessionManager } from "../session/manager.js";
import { inputContext } from "../session/operations.js";
import { DEFAULT_LIVE_LIMITS, LiveLimiter, type LiveLimits } from "./limits.js";
import { attachReadOnly } from "./live.js";
import { indexPage, sessionPage, type SessionRow } from "./pages.js";
import { redactEvent, redactText } from "./redaction.js";
import { LOOKBACK, PaneScreens } from "./screen.js";
import {
  allowedHosts,
  contentSecurityPolicy,
  hostAllowed,
  originAllowed,
  SECURITY_HEADERS,
  tokenMatches,
} from "./security.js";
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
  secretEnvNames?: string[];
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

const require = createRequire(import.meta.url);
/** Static files: xterm.js, and the pages' own script and style (copied next to dist/viewer/). */
const ASSETS: Record<string, { type: string; path: string }> = {
  "xterm.js": { type: "text/javascript", path: require.resolve("@xterm/xterm/lib/xterm.js") },
  "xterm.css": { type: "text/css", path: require.resolve("@xterm/xterm/css/xterm.css") },
  "session.js": {
    type: "text/javascript",
    path: fileURLToPath(new URL("./assets/session.js", import.meta.url)),
  },
  "viewer.css": { type: "text/css", path: fileURLToPath(new URL("./assets/viewer.css", import.meta.url)) },
};
const assetCache = new Map<string, Buffer>();

const inputBody = z.object({ data: z.string().min(1).max(16_384) }).strict();
const lockBody = z
  .object({ action: z.enum(["acquire", "release"]), ttl: z.number().gt(0).max(86_400).default(600) })
  .strict();
const eventsQuery = z.object({
  after_line: z.coerce.number().int().min(0).default(0),
  wait_ms: z.coerce.number().int().min(0).max(60_000).default(0),
  token: z.string().optional(),
  live: z.string().optional(),
});

/** Takes the response over for server-sent events (the security headers are on reply.raw). */
function startEventStream(reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  return res;
}

function fail(reply: FastifyReply, status: number, code: string, error: string) {
  return reply.code(status).send({ ok: false, code, error });
}

export function buildViewerApp(opts: ViewerOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: 64 * 1024, logger: false });
  /** Whether a request came with the operator's token (the human), not the read token. */
  const operators = new WeakMap<object, boolean>();
  const operatorOnly = (req: object, reply: FastifyReply): FastifyReply | undefined =>
    operators.get(req)
      ? undefined
      : fail(
          reply,
          403,
          "OPERATOR_ONLY",
          "Taking the input lock and typing need the operator's URL (ssh-mcp ls shows it); the viewer_url an agent gets is read-only.",
        );
  /** The token a page goes on using: the one it was opened with. */
  const pageToken = (req: object): string =>
    operators.get(req) && opts.operatorToken ? opts.operatorToken : opts.token;
  app.removeContentTypeParser("text/plain");
  const limiter = new LiveLimiter(opts.liveLimits ?? DEFAULT_LIVE_LIMITS);
  /** Whether what the viewer shows of a session goes through the redactor (its profile's choice). */
  const redacts = (id: string): boolean => {
    const s = opts.manager?.sessions.get(id);
    if (s) return s.profile.security.redact_transcripts;
    const name = opts.store.files.get(id)?.meta.profile;
    const p =
      typeof name === "string" && opts.profiles && Object.hasOwn(opts.profiles, name)
        ? opts.profiles[name]
        : undefined;
    return p?.security.redact_transcripts ?? true;
  };
  const screens = new PaneScreens(async (id) => {
    const s = opts.manager?.sessions.get(id);
    if (!opts.manager || !s || s.status !== "open") return null;
    const tmux = opts.manager.deps.tmux;
    const info = await tmux.paneInfo(s.paneId);
    if (!info || info.dead) return null;
    const raw = await tmux.capture(s.paneId, { start: -LOOKBACK, ansi: true });
    return {
      capture: raw,
      cols: info.width,
      rows: info.height,
      cursor: { x: info.cursorX, y: info.cursorY },
      redact: redacts(id),
    };
  }, opts.livePollMs);
  app.addHook("onClose", async () => screens.close());

  // First of all, on every response (refusals, errors, 404s and hijacked event streams too):
  // set on the raw response, which fastify's own headers are merged into.
  app.addHook("onRequest", async (_req, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
  });

  // Every request: a Host we serve, a same-origin Origin if any, and the instance's token.
  app.addHook("onRequest", async (req, reply) => {
    const allowed = allowedHosts(opts.host, opts.port());
    if (!hostAllowed(req.headers.host, allowed)) return fail(reply, 421, "BAD_HOST", "Unknown Host header.");
    if (!originAllowed(req.headers.origin, allowed))
      return fail(reply, 403, "BAD_ORIGIN", "Cross-origin request refused.");
    const q = req.query as Record<string, unknown> | undefined;
    const given = req.headers["x-ssh-mcp-token"] ?? q?.token;
    const operator = opts.operatorToken !== undefined && tokenMatches(opts.operatorToken, given);
    operators.set(req, operator);
    if (!operator && !tokenMatches(opts.token, given)) {
      return fail(
        reply,
        401,
        "BAD_TOKEN",
        "Missing or wrong token: open the viewer_url that open_session returned.",
      );
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof SshMcpError) return fail(reply, 409, err.code, err.message);
    if (err instanceof z.ZodError) return fail(reply, 400, "INVALID_ARGUMENT", "Invalid query parameters.");
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    // Client errors say what was wrong; server errors say nothing about the inside.
    return fail(
      reply,
      status,
      status === 500 ? "INTERNAL_ERROR" : "BAD_REQUEST",
      status === 500 ? "Internal error." : err.message,
    );
  });

  const rows = (): SessionRow[] => {
    opts.store.rescan();
    const byId = new Map<string, SessionRow>();
    for (const f of opts.store.files.values()) {
      const m = f.meta;
      byId.set(f.sessionId, {
        session_id: f.sessionId,
        server_instance_id: f.scope === "legacy" ? "legacy" : String(m.server_instance_id ?? f.instance),
        scope: f.scope,
        status: f.status,
        owner_label: typeof m.owner_label === "string" ? m.owner_label : null,
        profile: String(m.profile ?? ""),
        host: String(m.host ?? ""),
        last_activity_at: f.lastTs,
        attach_command: "",
      });
    }
    // Live state from the manager wins over what the transcript says.
    for (const s of opts.manager?.sessions.values() ?? []) {
      const info = opts.manager?.info(s);
      const row = byId.get(s.id);
      if (info && row)
        Object.assign(row, {
          status: info.status,
          attach_command: info.attach_command,
          server_instance_id: info.server_instance_id,
        });
    }
    return [...byId.values()].sort((a, b) => b.last_activity_at.localeCompare(a.last_activity_at));
  };

  const sessionParam = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    const id = (req.params as { id?: string }).id ?? "";
    if (!SESSION_ID_RE.test(id)) {
      void fail(reply, 400, "INVALID_ARGUMENT", "Invalid session id.");
      return undefined;
    }
    if (!opts.store.fresh(id)) {
      void fail(reply, 404, "UNKNOWN_SESSION", `Unknown session '${id}'.`);
      return undefined;
    }
    return id;
  };

  app.get("/assets/:name", (req, reply) => {
    const name = (req.params as { name: string }).name;
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return fail(reply, 404, "NOT_FOUND", `No asset '${name}'.`);
    let body = assetCache.get(name);
    if (!body) assetCache.set(name, (body = readFileSync(asset.path)));
    return reply.type(asset.type).send(body);
  });

  app.get("/", (req, reply) => reply.type("text/html").send(indexPage(rows(), pageToken(req))));

  app.get("/api/sessions", () => ({
    ok: true,
    server: opts.serverMeta?.() ?? null,
    instances: opts.store.instances(),
    sessions: rows(),
  }));

  app.get("/sessions/:id", (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    const live = (req.query as { live?: string }).live === "1" && Boolean(opts.manager?.sessions.get(id));
    // xterm.js writes <style> elements and style attributes: see contentSecurityPolicy().
    reply.header("content-security-policy", contentSecurityPolicy(true));
    // Under readonly/restricted the page types whole lines, each checked by the policy.
    const guarded =
      (opts.manager?.sessions.get(id)?.profile.security.mode ?? "unrestricted") !== "unrestricted";
    return reply.type("text/html").send(sessionPage(id, pageToken(req), live, guarded));
  });

  // Long poll (predecessor-compatible): events after a line, waiting up to wait_ms for new ones.
  app.get("/api/sessions/:id/events", async (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    const q = eventsQuery.parse(req.query);
    await opts.store.waitFor(id, q.after_line, q.wait_ms);
    const { events, next } = opts.store.read(id, q.after_line);
    return {
      ok: true,
      session_id: id,
      events: redacts(id) ? events.map(redactEvent) : events,
      next_line: next,
    };
  });

  // Push channel: server-sent events, one per transcript line, from after_line on.
  app.get("/api/sessions/:id/stream", (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    let next = eventsQuery.parse(req.query).after_line;
    const redact = redacts(id);
    const res = startEventStream(reply);
    // Writes until caught up or the client's socket is full; then waits for 'drain'. A slow
    // reader costs one page of buffered events, never the whole transcript.
    let waiting = false;
    const flush = (): void => {
      if (waiting) return;
      for (;;) {
        const page = opts.store.read(id, next, 500, 1_000_000);
        if (page.next === next) return;
        next = page.next;
        const ok = res.write(
          page.events.map((ev) => `data: ${JSON.stringify(redact ? redactEvent(ev) : ev)}\n\n`).join(""),
        );
        if (!ok) {
          waiting = true;
          res.once("drain", () => {
            waiting = false;
            flush();
          });
          return;
        }
      }
    };
    const onAppend = (sid: string): void => {
      if (sid === id) flush();
    };
    opts.store.on("append", onAppend);
    const unfollow = opts.store.follow(id);
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    req.raw.on("close", () => {
      clearInterval(ping);
      opts.store.off("append", onAppend);
      unfollow();
    });
    flush();
  });

  // Live terminal, read-only, over server-sent events: the pane's bytes from `tmux attach -r`
  // (base64 chunks) for a session that does not redact; else redacted screen frames (screen.ts).
  app.get("/api/sessions/:id/live", async (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    const mgr = opts.manager;
    const s = mgr?.sessions.get(id);
    if (!mgr || !s || s.status !== "open")
      return fail(reply, 409, "SESSION_CLOSED", "No live terminal for this session.");
    const slot = limiter.acquire(id);
    if (!slot.ok) {
      return fail(
        reply,
        429,
        "TOO_MANY_LIVE_STREAMS",
        slot.scope === "session"
          ? `This session already has ${slot.limit} live views open (SSH_MCP_VIEWER_LIVE_PER_SESSION). Close one of its live tabs, or open the page without &live=1 (the transcript view), then try again.`
          : `The viewer already streams ${slot.limit} live views (SSH_MCP_VIEWER_LIVE_MAX). Close a live tab, or open the page without &live=1 (the transcript view), then try again.`,
      );
    }
    // The slot is held until the client goes, whatever ends the stream.
    let gone = false;
    req.raw.on("close", () => {
      gone = true;
      slot.release();
    });
    let info;
    try {
      info = await mgr.deps.tmux.paneInfo(s.paneId);
    } catch (err) {
      slot.release();
      throw err;
    }
    if (gone) return reply;
    const cols = info?.width ?? s.profile.width;
    const rowsN = info?.height ?? s.profile.height;
    const res = startEventStream(reply);
    res.write(`event: size\ndata: ${JSON.stringify({ cols, rows: rowsN })}\n\n`);
    if (redacts(id)) {
      // Output in the transcript means the pane changed: capture it then, not only on the poll.
      const onAppend = (sid: string): void => {
        if (sid === id) screens.poke(id);
      };
      opts.store.on("append", onAppend);
      const unfollow = opts.store.follow(id);
      const unsubscribe = screens.subscribe(
        id,
        (json) => res.write(`event: frame\ndata: ${json}\n\n`),
        () => res.end(),
      );
      const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
      req.raw.on("close", () => {
        clearInterval(ping);
        unsubscribe();
        unfollow();
        opts.store.off("append", onAppend);
      });
      return reply;
    }
    const env = { ...(opts.env ?? {}) };
    for (const name of opts.secretEnvNames ?? []) delete env[name];
    const attach = attachReadOnly(mgr.deps.tmux.socket, s.tmuxName, cols, rowsN, env);
    attach.onData((d) => res.write(`data: ${Buffer.from(d, "utf8").toString("base64")}\n\n`));
    attach.onExit(() => res.end());
    req.raw.on("close", () => attach.close());
    return reply;
  });

  app.post("/api/sessions/:id/lock", async (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    if (!opts.manager) return fail(reply, 409, "READ_ONLY", "This is a history viewer: no input.");
    if (operatorOnly(req, reply)) return reply;
    const body = lockBody.safeParse(req.body);
    if (!body.success)
      return fail(reply, 400, "INVALID_ARGUMENT", "Body must be {action: acquire|release, ttl?}.");
    if (body.data.action === "acquire") {
      return { ok: true, lock: await acquireLock(opts.manager, id, "human", body.data.ttl, false) };
    }
    return { ok: true, ...(await releaseLock(opts.manager, id, "human", false)) };
  });

  // Typing from the page: only while the human holds the input lock; recorded as actor human.
  app.post("/api/sessions/:id/input", async (req, reply) => {
    const id = sessionParam(req, reply);
    if (!id) return reply;
    const mgr = opts.manager;
    if (!mgr) return fail(reply, 409, "READ_ONLY", "This is a history viewer: no input.");
    if (operatorOnly(req, reply)) return reply;
    const body = inputBody.safeParse(req.body);
    if (!body.success)
      return fail(reply, 400, "INVALID_ARGUMENT", "Body must be {data: string} (1-16384 chars).");
    const s = await mgr.usable(id, { actor: "human" });
    const info = await mgr.deps.tmux.paneInfo(s.paneId);
    const lock = activeLock(info?.lock);
    if (!lock || lock.actor !== "human") {
      return fail(
        reply,
        409,
        "INPUT_LOCKED",
        "Take the input lock first (POST /lock {action: acquire}); the page is read-only by default.",
      );
    }
    const data = body.data.data;
    // The same policy as every other input path (docs/security.md), checked as the human types.
    if (s.profile.security.mode !== "unrestricted") {
      await shellParserReady();
      const verdict = checkTyped(s.profile, data, inputContext(s));
      if (!verdict.allowed) {
        s.writer.write("security_block", {
          tool: "viewer",
          actor: "human",
          rule: verdict.rule,
          mode: s.profile.security.mode,
        });
        return fail(
          reply,
          403,
          "POLICY_BLOCKED",
          `Refused by profile '${s.profile.name}' security policy (${verdict.rule}). Nothing was sent.`,
        );
      }
    }
    await s.exclusive(async () => {
      // Recorded as the transcript records output: redacted if the profile redacts.
      const recorded = s.profile.security.redact_transcripts ? redactText(data) : data;
      s.writer.mustWrite("send", { tool: "viewer", text: recorded, actor: "human" });
      s.otherInput("typed", data);
      await mgr.deps.tmux.sendLiteral(s.paneId, data);
    });
    return { ok: true, sent: body.data.data.length };
  });

  return app;
}
