import type { ServerResponse } from "node:http";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { z } from "zod";
import {
  pageToken,
  redacts,
  sessionParam,
  startEventStream,
  type ViewerContext,
  type ViewerPluginOptions,
} from "../context.js";
import { indexPage, sessionPage, type SessionRow } from "../pages.js";
import { redactEvent } from "../redaction.js";
import { contentSecurityPolicy } from "../security.js";

const eventsQuery = z.object({
  after_line: z.coerce.number().int().min(0).default(0),
  wait_ms: z.coerce.number().int().min(0).max(60_000).default(0),
  token: z.string().optional(),
  live: z.string().optional(),
});

/**
 * History: the index and session pages, the session list (also as a stream for the open index
 * page), and a session's transcript events.
 */
const history: FastifyPluginAsync<ViewerPluginOptions> = async (app, { ctx }) => {
  const { opts } = ctx;
  app.get("/", (req, reply) => reply.type("text/html").send(indexPage(rows(ctx), pageToken(ctx, req))));
  addIndexStream(app, ctx);

  app.get("/api/sessions", () => ({
    ok: true,
    server: opts.serverMeta?.() ?? null,
    instances: opts.store.instances(),
    sessions: rows(ctx),
  }));

  app.get("/sessions/:id", (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const live = (req.query as { live?: string }).live === "1" && Boolean(opts.manager?.known(id));
    // xterm.js writes <style> elements and style attributes: see contentSecurityPolicy().
    reply.header("content-security-policy", contentSecurityPolicy(true));
    // Under readonly/restricted the page types whole lines, each checked by the policy.
    const guarded = (opts.manager?.known(id)?.profile.security.mode ?? "unrestricted") !== "unrestricted";
    return reply.type("text/html").send(sessionPage(id, pageToken(ctx, req), live, guarded));
  });

  addEventRoutes(app, ctx);
};
export default history;

/** The sessions the viewer knows of, most recently active first. */
function rows(ctx: ViewerContext): SessionRow[] {
  const { opts } = ctx;
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
  for (const s of opts.manager?.all() ?? []) {
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
}

/** The index page's script: a fixed route beside /assets/:name (plugins/assets.ts), read once. */
/** How often an idle index stream says it is alive (a comment line), so proxies keep it open. */
const INDEX_HEARTBEAT_MS = 25_000;

/**
 * The open index page's feed: server-sent events, each `{"sessions": rows}`, at once and again
 * whenever a transcript or an instance directory appears (the store's index watch, which runs
 * while any such stream is open). Rows come from a rescan each time, as the page's own do. A
 * client whose socket is full gets the rows of the moment once it drains, not every version.
 */
function addIndexStream(app: FastifyInstance, ctx: ViewerContext): void {
  const { store } = ctx.opts;
  const open = new Set<ServerResponse>();
  app.get("/api/sessions/events", (_req, reply) => {
    const res = startEventStream(reply);
    let behind = false;
    const send = (): void => {
      if (res.writableNeedDrain) {
        behind = true;
        return;
      }
      res.write(`data: ${JSON.stringify({ sessions: rows(ctx) })}\n\n`);
    };
    res.on("drain", () => {
      if (!behind) return;
      behind = false;
      send();
    });
    const unwatch = store.watchIndex(send);
    const heartbeat = setInterval(() => res.write(": ping\n\n"), INDEX_HEARTBEAT_MS);
    open.add(res);
    res.on("close", () => {
      clearInterval(heartbeat);
      unwatch();
      open.delete(res);
    });
    send();
  });
  // Open streams would keep the server from closing: end them first (their 'close' unwatches).
  app.addHook("preClose", async () => {
    for (const res of open) res.end();
  });
}

function addEventRoutes(app: FastifyInstance, ctx: ViewerContext): void {
  const { store } = ctx.opts;
  // Long poll (predecessor-compatible): events after a line, waiting up to wait_ms for new ones.
  app.get("/api/sessions/:id/events", async (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const q = eventsQuery.parse(req.query);
    await store.waitFor(id, q.after_line, q.wait_ms);
    const { events, next } = store.read(id, q.after_line);
    return {
      ok: true,
      session_id: id,
      events: redacts(ctx, id) ? events.map(redactEvent) : events,
      next_line: next,
    };
  });

  // Push channel: server-sent events, one per transcript line, from after_line on.
  app.get("/api/sessions/:id/stream", (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const after = eventsQuery.parse(req.query).after_line;
    const redact = redacts(ctx, id);
    const res = startEventStream(reply);
    const flush = transcriptFlusher(ctx, id, after, redact, res);
    const onAppend = (sid: string): void => {
      if (sid === id) flush();
    };
    store.on("append", onAppend);
    const unfollow = store.follow(id);
    const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
    req.raw.on("close", () => {
      clearInterval(ping);
      store.off("append", onAppend);
      unfollow();
    });
    flush();
  });
}

/**
 * Writes a session's events from `after` on until caught up or the client's socket is full; then
 * waits for 'drain'. A slow reader costs one page of buffered events, never the whole transcript.
 */
function transcriptFlusher(
  ctx: ViewerContext,
  id: string,
  after: number,
  redact: boolean,
  res: ServerResponse,
): () => void {
  let next = after;
  let waiting = false;
  const flush = (): void => {
    if (waiting) return;
    for (;;) {
      const page = ctx.opts.store.read(id, next, 500, 1_000_000);
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
  return flush;
}
