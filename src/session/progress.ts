import { redactText } from "../transcript/redact.js";
import { cleanOutput } from "./output/clean.js";
import { allSecretValues, maskText } from "./secrets.js";
import type { SessionHost } from "./host.js";
import type { Session } from "./session.js";

/**
 * notifications/progress for one tool call that waits on a session (docs/long-work.md). `progress` is the call's elapsed seconds, strictly growing; `message`
 * is the state and the last non-empty output line, cleaned of escape sequences, redacted, and
 * at most 200 characters. While output flows at most one notification per THROTTLE_MS; while
 * quiet a heartbeat every `heartbeatMs`, so a client that resets its idle timer on progress
 * keeps the call alive. Without a progress token nothing of this exists: callers get undefined
 * from `startProgress` and pass nothing on (no timer, no watch on the hot path).
 */
export type ProgressFn = (progress: number, message: string) => void;

/** The longest message a notification carries. */
export const MAX_MESSAGE = 200;

/** Output-driven notifications are at least this far apart. */
const THROTTLE_MS = 500;

/** How much of the stream's tail is read for the last line. */
const TAIL_CHARS = 4096;

/** What the reporter follows: a session's output (Session has both). */
export type Followed = Pick<Session, "stream" | "watch">;

export class ProgressReporter {
  private readonly startedAt = Date.now();
  private last = 0;
  private sentAt = Number.NEGATIVE_INFINITY;
  private state = "";
  private line: (() => string) | undefined;
  private quietSince: (() => number) | undefined;
  private throttle: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly send: ProgressFn,
    private readonly heartbeatMs: number,
    /** Declared secret values masked in the output line before it is cut to fit. */
    private readonly mask: (line: string) => string = (line) => line,
  ) {
    this.armHeartbeat();
  }

  /** A new state of the work (a login step, a route step): sent at once. */
  step(state: string): void {
    this.state = state;
    this.emit(false);
  }

  /**
   * Follows `s`'s output from stream offset `from` (default: now) under `state`: each change is
   * sent within the throttle, the last non-empty line shown. Returns the function that stops.
   */
  follow(s: Followed, state: string, from = s.stream.end): () => void {
    this.state = state;
    this.line = () => this.mask(lastLine(s.stream.slice(Math.max(from, s.stream.end - TAIL_CHARS))));
    this.quietSince = () => Math.max(s.stream.lastRecvAt, this.startedAt);
    const stop = s.watch(() => this.changed());
    return () => {
      stop();
      this.line = undefined;
      this.quietSince = undefined;
    };
  }

  /** Something changed: sent now, or at the end of the throttle window (one timer at a time). */
  private changed(): void {
    if (this.closed || this.throttle) return;
    const wait = this.sentAt + THROTTLE_MS - Date.now();
    if (wait <= 0) return this.emit(false);
    this.throttle = setTimeout(() => {
      this.throttle = undefined;
      this.emit(false);
    }, wait);
    this.throttle.unref();
  }

  /** Stops every timer; nothing is sent after it. */
  close(): void {
    this.closed = true;
    if (this.throttle) clearTimeout(this.throttle);
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.throttle = this.heartbeat = undefined;
  }

  private emit(beat: boolean): void {
    if (this.closed) return;
    // This notification carries whatever change was waiting for the throttle.
    if (this.throttle) clearTimeout(this.throttle);
    this.throttle = undefined;
    const now = Date.now();
    // Elapsed seconds, never repeated: a second notification in the same millisecond still grows.
    const progress = Math.max((now - this.startedAt) / 1000, this.last + 0.001);
    this.last = Math.round(progress * 1000) / 1000;
    this.sentAt = now;
    let state = this.state || "working";
    if (beat && this.quietSince) {
      const quiet = Math.floor((now - this.quietSince()) / 1000);
      if (quiet >= 1) state += ` (no output for ${quiet} s)`;
    }
    this.send(this.last, progressMessage(state, this.line?.() ?? ""));
    this.armHeartbeat();
  }

  private armHeartbeat(): void {
    if (this.heartbeat) clearTimeout(this.heartbeat);
    this.heartbeat = setTimeout(() => {
      this.heartbeat = undefined;
      this.emit(true);
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }
}

/**
 * A reporter for a call that carries a progress token, else undefined (and nothing runs). The
 * heartbeat is the server's SSH_MCP_PROGRESS_HEARTBEAT_MS.
 */
export function startProgress(
  send: ProgressFn | undefined,
  host: ProgressHost,
): ProgressReporter | undefined {
  if (!send) return undefined;
  const values = host.env ? allSecretValues(host.config, host.env) : [];
  const mask = values.length ? (line: string) => maskText(line, values) : undefined;
  return new ProgressReporter(send, host.config.timing.progressHeartbeatMs, mask);
}

/** What progress needs of the host: the heartbeat, and the environment for secret values. */
type ProgressHost = Pick<SessionHost, "config"> & Partial<Pick<SessionHost, "env">>;

/**
 * Runs `work` while progress follows session `s` under `state`; always stopped afterwards.
 * Without a progress function: just `work`, at no cost.
 */
export async function withProgress<T>(
  send: ProgressFn | undefined,
  host: ProgressHost,
  s: Followed | undefined,
  state: string,
  work: (p: ProgressReporter | undefined) => Promise<T>,
): Promise<T> {
  const p = startProgress(send, host);
  if (!p) return work(undefined);
  let stop = (): void => undefined;
  if (s) stop = p.follow(s, state);
  else p.step(state);
  try {
    return await work(p);
  } finally {
    stop();
    p.close();
  }
}

/**
 * `state: line`, redacted, one line of at most MAX_MESSAGE characters: a long line keeps its
 * tail (where a progress bar or the newest words are), behind an ellipsis.
 */
export function progressMessage(state: string, line: string): string {
  const head = oneLine(redactText(oneLine(state)));
  const s = head.length > MAX_MESSAGE ? head.slice(0, MAX_MESSAGE - 1) + "…" : head;
  if (!line) return s;
  const room = MAX_MESSAGE - s.length - 2;
  if (room < 10) return s;
  const l = oneLine(redactText(line));
  return `${s}: ${l.length > room ? "…" + l.slice(l.length - room + 1) : l}`;
}

/**
 * The last non-empty line of raw output, cleaned, without ssh-mcp's own command wrapper (the
 * echo of ` __mcp_b NONCE&&...`). A line still being printed (no newline yet) loses a trailing
 * run of token characters: it may be the first part of a secret that redaction can only
 * recognise whole.
 */
export function lastLine(raw: string): string {
  const text = cleanOutput(raw);
  const finished = text.endsWith("\n");
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = (lines[i] as string).trim();
    if (!l || l.includes("__mcp_")) continue;
    const open = i === lines.length - 1 && !finished;
    return open ? l.replace(/[A-Za-z0-9_+/=.-]{16,}$/, "…") : l;
  }
  return "";
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]+/g;

function oneLine(text: string): string {
  return text.replace(CONTROL, " ").trim();
}
