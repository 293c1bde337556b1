import { statSync } from "node:fs";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ReadResourceResult,
  type Resource,
  type ResourceLink,
} from "@modelcontextprotocol/sdk/types.js";
import { errorMessage, SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SessionManager } from "../session/manager.js";
import { getScreen } from "../session/operations.js";
import { allSecretValues, maskDeep, maskText } from "../session/secrets.js";
import { readEventsPage, tailEvents } from "../transcript/reader.js";

/**
 * Each session's transcript and screen as MCP resources (docs/tools.md, "Resources"): listed for
 * every open session, read through the same access rule as get_transcript and get_screen
 * ("observe"), and followed for subscribers with coalesced notifications/resources/updated.
 * The handlers are the SDK's request schemas on the low-level server, not
 * McpServer.registerResource: the SDK's template match wants every query parameter present and
 * in order (`?offset=0` alone would be "not found"), and its errors carry no ssh-mcp code.
 */
type Kind = "transcript" | "screen";

const KINDS: Record<Kind, { mimeType: string; params: string[]; what: string }> = {
  transcript: {
    mimeType: "application/json",
    params: ["offset", "limit"],
    what: "JSONL audit transcript, as pages of events: {events, next_offset, end}",
  },
  screen: {
    mimeType: "text/plain",
    params: ["lines"],
    what: "terminal screen as text, as get_screen shows it",
  },
};

const DEFAULT_EVENTS = 500;
const MAX_EVENTS = 5000;
const DEFAULT_LINES = 100;
const MAX_LINES = 10_000;
/**
 * Raw transcript bytes per page. The events travel as JSON inside a JSON string, where escaping
 * at most doubles them: under the client's 10 MB message cap (docs/architecture.md).
 */
const PAGE_BYTES = 4_000_000;
/** At most one notifications/resources/updated per subscribed URI in this many ms. */
const UPDATE_INTERVAL_MS = 500;

const URI = /^ssh-mcp:\/\/sessions\/([A-Za-z0-9_-]{1,128})\/(transcript|screen)(?:\?([^#]*))?$/;

export function resourceUri(sessionId: string, kind: Kind): string {
  return `ssh-mcp://sessions/${sessionId}/${kind}`;
}

/** The resource_link items a tool result carries for a session: its transcript and its screen. */
export function sessionLinks(sessionId: string): ResourceLink[] {
  return (Object.keys(KINDS) as Kind[]).map((kind) => ({
    type: "resource_link",
    uri: resourceUri(sessionId, kind),
    name: `${sessionId}/${kind}`,
    mimeType: KINDS[kind].mimeType,
  }));
}

export function registerResources(mcp: McpServer, manager: SessionManager, logger: Logger): void {
  const subs = new Subscriptions(mcp, manager);
  const answer = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    fn().catch((err: unknown) => {
      throw protocolError(what, err, logger);
    });
  mcp.server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: (Object.keys(KINDS) as Kind[]).map((kind) => ({
      uriTemplate: `${resourceUri("{session_id}", kind)}{?${KINDS[kind].params.join(",")}}`,
      name: kind,
      title: `Session ${kind}`,
      description: `A session's ${KINDS[kind].what}.`,
      mimeType: KINDS[kind].mimeType,
    })),
  }));
  mcp.server.setRequestHandler(ListResourcesRequestSchema, () =>
    answer("resources/list", async () => ({ resources: await listResources(manager) })),
  );
  mcp.server.setRequestHandler(ReadResourceRequestSchema, (req) =>
    answer("resources/read", () => readResource(manager, req.params.uri)),
  );
  mcp.server.setRequestHandler(SubscribeRequestSchema, (req) =>
    answer("resources/subscribe", async () => {
      const r = parseUri(req.params.uri);
      const target = await manager.access(r.sessionId, "observe");
      subs.follow(req.params.uri, r.kind, r.sessionId, target.transcriptPath);
      return {};
    }),
  );
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, (req) => {
    subs.stop(req.params.uri);
    return {};
  });
}

/** Both resources of every open session, as list_sessions sees them (other servers' too). */
async function listResources(manager: SessionManager): Promise<Resource[]> {
  const sessions = (await manager.listAll()).filter((s) => s.status === "open");
  return sessions.flatMap((s) =>
    (Object.keys(KINDS) as Kind[]).map((kind) => ({
      uri: resourceUri(s.session_id, kind),
      name: `${s.session_id}/${kind}`,
      title: `${kind === "transcript" ? "Transcript" : "Screen"} of ${s.session_id} (${s.profile}${s.owner_label ? `: ${s.owner_label}` : ""})`,
      mimeType: KINDS[kind].mimeType,
    })),
  );
}

/**
 * A resource's body with every declared secret value masked, as tool results are (a value the
 * remote echoed is on the screen, and in the transcript of a recorder started before the masks).
 */
async function readResource(manager: SessionManager, uri: string): Promise<ReadResourceResult> {
  const read = await readUnmasked(manager, uri);
  const values = allSecretValues(manager.config, manager.env);
  if (!values.length) return read;
  return { contents: read.contents.map((c) => ("text" in c ? { ...c, text: maskText(c.text, values) } : c)) };
}

async function readUnmasked(manager: SessionManager, uri: string): Promise<ReadResourceResult> {
  const r = parseUri(uri);
  const target = await manager.access(r.sessionId, "observe");
  if (r.kind === "screen") {
    const screen = await getScreen(
      manager,
      target,
      intParam(r.params, "lines", DEFAULT_LINES, 1, MAX_LINES),
      false,
    );
    return { contents: [{ uri, mimeType: "text/plain", text: screen.screen }] };
  }
  const offset = intParam(r.params, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(r.params, "limit", DEFAULT_EVENTS, 1, MAX_EVENTS);
  const page = readEventsPage(target.transcriptPath, offset, limit, PAGE_BYTES);
  const { skipped_lines, ...rest } = page;
  // As get_transcript: lines that are not JSON are skipped, and said so (docs/audit.md).
  const body = skipped_lines ? page : rest;
  // The events masked before they are serialised (JSON escapes would hide a value with " or \).
  const masked = maskDeep(body, allSecretValues(manager.config, manager.env));
  return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(masked) }] };
}

interface ParsedUri {
  sessionId: string;
  kind: Kind;
  params: URLSearchParams;
}

function parseUri(uri: string): ParsedUri {
  const m = URI.exec(uri);
  if (!m) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `Unknown resource '${uri}'. Resources are ssh-mcp://sessions/<session_id>/transcript and ssh-mcp://sessions/<session_id>/screen; resources/list shows those of every open session.`,
    );
  }
  const kind = m[2] as Kind;
  const params = new URLSearchParams(m[3] ?? "");
  for (const name of new Set(params.keys())) {
    if (!KINDS[kind].params.includes(name)) {
      throw new SshMcpError(
        "INVALID_ARGUMENT",
        `The ${kind} resource takes no parameter '${name}'. It takes: ${KINDS[kind].params.join(", ")}.`,
      );
    }
  }
  return { sessionId: m[1] as string, kind, params };
}

function intParam(params: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const raw = params.get(name);
  if (raw === null) return def;
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `Parameter '${name}' must be a whole number from ${min} to ${max}, not '${raw}'.`,
    );
  }
  return n;
}

/**
 * A refusal as a protocol error: a session that is not there is "resource not found" (-32002
 * in the MCP specification), any other coded refusal invalid params; the SshMcpError's code goes
 * in `data.code` and its message (what to do next) is kept. Anything else is logged with its stack.
 */
function protocolError(what: string, err: unknown, logger: Logger): McpError {
  if (err instanceof SshMcpError) {
    const code = err.code === "UNKNOWN_SESSION" ? -32002 : ErrorCode.InvalidParams;
    return new McpError(code, err.message, { code: err.code });
  }
  logger.error("resource request failed", {
    request: what,
    error: errorMessage(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
  return new McpError(
    ErrorCode.InternalError,
    `Internal error: ${errorMessage(err)}. The server is still running; see its log for details.`,
    { code: "INTERNAL_ERROR" },
  );
}

/** A subscribed URI and how it is followed. */
interface Follow {
  kind: Kind;
  sessionId: string;
  transcriptPath: string;
  /** The transcript's size when its last update was sent (transcript updates need growth). */
  size: number;
  lastSent: number;
  timer: NodeJS.Timeout | undefined;
  /** Stops following the session's output. */
  unfollow: () => void;
  /** Followed through the session's own watch (a session this server holds), not by polling. */
  held: boolean;
}

/**
 * The URIs the client subscribed to on this server, each followed until it unsubscribes or the
 * session closes. A session this server holds is followed through Session.watch (every output
 * chunk and status change); another server's session by its transcript's size (its screen only
 * changes with output, which the transcript records). Updates are coalesced to one per URI per
 * UPDATE_INTERVAL_MS; a transcript URI is notified only when the file grew.
 */
class Subscriptions {
  private readonly follows = new Map<string, Follow>();
  private listPending = false;

  constructor(
    private readonly mcp: McpServer,
    private readonly manager: SessionManager,
  ) {
    manager.watchSessions(() => this.sessionsChanged());
  }

  follow(uri: string, kind: Kind, sessionId: string, transcriptPath: string): void {
    if (this.follows.has(uri)) return;
    const s = this.manager.known(sessionId);
    // A session that is over never changes: nothing to follow.
    if (s && s.status !== "open") return;
    const f: Follow = {
      kind,
      sessionId,
      transcriptPath,
      size: fileSize(transcriptPath),
      lastSent: 0,
      timer: undefined,
      unfollow: () => undefined,
      held: Boolean(s),
    };
    if (s) {
      f.unfollow = s.watch(() => this.changed(uri));
    } else {
      let seen = f.size;
      const poll = setInterval(() => {
        const size = fileSize(transcriptPath);
        if (size === seen) return;
        seen = size;
        this.changed(uri);
        // The other server recorded the session's end: one last update, then no more polling.
        if (endedIn(transcriptPath)) {
          clearInterval(poll);
          f.unfollow = () => undefined;
        }
      }, UPDATE_INTERVAL_MS);
      poll.unref();
      f.unfollow = () => clearInterval(poll);
    }
    this.follows.set(uri, f);
  }

  stop(uri: string): void {
    const f = this.follows.get(uri);
    if (!f) return;
    f.unfollow();
    if (f.timer) clearTimeout(f.timer);
    this.follows.delete(uri);
  }

  /** Something changed for `uri`: an update goes out now, or when its interval is over. */
  private changed(uri: string): void {
    const f = this.follows.get(uri);
    if (!f || f.timer) return;
    f.timer = setTimeout(() => this.flush(uri), Math.max(0, f.lastSent + UPDATE_INTERVAL_MS - Date.now()));
    f.timer.unref();
  }

  private flush(uri: string): void {
    const f = this.follows.get(uri);
    if (!f) return;
    f.timer = undefined;
    if (f.kind === "transcript") {
      const size = fileSize(f.transcriptPath);
      if (size === f.size) return;
      f.size = size;
    }
    f.lastSent = Date.now();
    if (!this.mcp.isConnected()) return;
    // A lost notification is only a missed hint: the next change sends another.
    this.mcp.server.sendResourceUpdated({ uri }).catch(() => undefined);
  }

  /**
   * Sessions came, went or changed status: the client's list is stale (one list_changed per
   * tick), and a followed session that closed (or that this server let go of) gets its last
   * update (its closing is in the transcript) and is followed no more.
   */
  private sessionsChanged(): void {
    if (!this.listPending) {
      this.listPending = true;
      setImmediate(() => {
        this.listPending = false;
        if (this.mcp.isConnected()) this.mcp.server.sendResourceListChanged().catch(() => undefined);
      });
    }
    for (const [uri, f] of this.follows) {
      if (!f.held || this.manager.known(f.sessionId)?.status === "open") continue;
      if (f.timer) clearTimeout(f.timer);
      f.lastSent = 0;
      this.flush(uri);
      this.stop(uri);
    }
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Whether the transcript's last events record the session's end (a `closed` event). */
function endedIn(transcriptPath: string): boolean {
  return tailEvents(transcriptPath, 5, 64 * 1024).some((e) => e.dir === "event" && e.event === "closed");
}
