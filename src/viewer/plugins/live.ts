import type { ServerResponse } from "node:http";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { SessionManager } from "../../session/manager.js";
import { declaresSecrets, maskText, MIN_MASKED, secretValues } from "../../session/secrets.js";
import type { Session } from "../../session/session.js";
import {
  fail,
  redacts,
  sessionParam,
  startEventStream,
  type ViewerContext,
  type ViewerPluginOptions,
} from "../context.js";
import { DEFAULT_LIVE_LIMITS, LiveLimiter } from "../limits.js";
import { attachReadOnly } from "../live.js";
import { LOOKBACK, PaneScreens } from "../screen.js";

/**
 * Live terminal, read-only, over server-sent events: the pane's bytes from `tmux attach -r`
 * (base64 chunks) for a session that does not redact; else redacted screen frames (screen.ts).
 * At most liveLimits streams at once (429 TOO_MANY_LIVE_STREAMS beyond).
 */
const live: FastifyPluginAsync<ViewerPluginOptions> = async (app, { ctx }) => {
  const limiter = new LiveLimiter(ctx.opts.liveLimits ?? DEFAULT_LIVE_LIMITS);
  const screens = paneScreens(ctx);
  app.addHook("onClose", async () => screens.close());

  app.get("/api/sessions/:id/live", async (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const mgr = ctx.opts.manager;
    const s = mgr?.known(id);
    if (!mgr || !s || s.status !== "open")
      return fail(reply, 409, "SESSION_CLOSED", "No live terminal for this session.");
    const slot = limiter.acquire(id);
    if (!slot.ok) return fail(reply, 429, "TOO_MANY_LIVE_STREAMS", overCap(slot.scope, slot.limit));
    // The slot is held until the client goes, whatever ends the stream.
    let gone = false;
    req.raw.on("close", () => {
      gone = true;
      slot.release();
    });
    let info;
    try {
      info = await mgr.tmux.paneInfo(s.paneId);
    } catch (err) {
      slot.release();
      throw err;
    }
    if (gone) return reply;
    const cols = info?.width ?? s.profile.width;
    const rowsN = info?.height ?? s.profile.height;
    const res = startEventStream(reply);
    res.write(`event: size\ndata: ${JSON.stringify({ cols, rows: rowsN })}\n\n`);
    // A profile with secrets: frames too (the pane's raw bytes could show a value).
    if (redacts(ctx, id) || declaresSecrets(s.profile)) streamFrames(ctx, screens, id, req, res);
    else streamAttach(ctx, mgr, s, { cols, rows: rowsN }, req, res);
    return reply;
  });
};
export default live;

function overCap(scope: "session" | "total", limit: number): string {
  return scope === "session"
    ? `This session already has ${limit} live views open (SSH_MCP_VIEWER_LIVE_PER_SESSION). Close one of its live tabs, or open the page without &live=1 (the transcript view), then try again.`
    : `The viewer already streams ${limit} live views (SSH_MCP_VIEWER_LIVE_MAX). Close a live tab, or open the page without &live=1 (the transcript view), then try again.`;
}

/** The screens of redacting sessions' panes, captured (with colors) for redacted frames. */
function paneScreens(ctx: ViewerContext): PaneScreens {
  const { opts } = ctx;
  return new PaneScreens(async (id) => {
    const s = opts.manager?.known(id);
    if (!opts.manager || !s || s.status !== "open") return null;
    const tmux = opts.manager.tmux;
    const info = await tmux.paneInfo(s.paneId);
    if (!info || info.dead) return null;
    const raw = await tmux.capture(s.paneId, { start: -LOOKBACK, ansi: true });
    return {
      capture: raw,
      cols: info.width,
      rows: info.height,
      cursor: { x: info.cursorX, y: info.cursorY },
      redact: redacts(ctx, id),
      // The pane never went through the tap: a declared secret's value echoed there is masked here.
      ...(declaresSecrets(s.profile) ? { mask: masker(s, opts.manager.env) } : {}),
    };
  }, opts.livePollMs);
}

/** Masks a line of the session's pane by its profile's secret values. */
function masker(s: Session, env: NodeJS.ProcessEnv): (line: string) => string {
  const values = secretValues(s.profile, env, MIN_MASKED).sort((a, b) => b.value.length - a.value.length);
  return (line) => maskText(line, values);
}

/** A redacting session: redacted screen frames, until the client goes. */
function streamFrames(
  ctx: ViewerContext,
  screens: PaneScreens,
  id: string,
  req: FastifyRequest,
  res: ServerResponse,
): void {
  const { store } = ctx.opts;
  // Output in the transcript means the pane changed: capture it then, not only on the poll.
  const onAppend = (sid: string): void => {
    if (sid === id) screens.poke(id);
  };
  store.on("append", onAppend);
  const unfollow = store.follow(id);
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
    store.off("append", onAppend);
  });
}

/** A session that does not redact: the pane's bytes from `tmux attach -r`, base64 chunks. */
function streamAttach(
  ctx: ViewerContext,
  mgr: SessionManager,
  s: Session,
  size: { cols: number; rows: number },
  req: FastifyRequest,
  res: ServerResponse,
): void {
  const env = { ...(ctx.opts.env ?? {}) };
  for (const name of ctx.opts.secretEnvNames?.() ?? []) delete env[name];
  const attach = attachReadOnly(mgr.tmux.socket, s.tmuxName, size.cols, size.rows, env);
  attach.onData((d) => res.write(`data: ${Buffer.from(d, "utf8").toString("base64")}\n\n`));
  attach.onExit(() => res.end());
  req.raw.on("close", () => attach.close());
}
