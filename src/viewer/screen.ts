import { redactScreenLines, stripEscapes } from "./redaction.js";

/**
 * Live mode for a session whose profile redacts: the viewer cannot stream the pane's bytes
 * (`tmux attach` output is screen painting: cursor moves and partial redraws that no line-based
 * redactor can follow), so it sends frames instead: the screen captured from tmux with its
 * colors, redacted line by line, redrawn by the page. A capture runs when the transcript grows
 * (the pane wrote something) and on a slow poll, once per session however many pages watch it.
 */
export interface ScreenFrame {
  cols: number;
  rows: number;
  cursor: { x: number; y: number };
  /** Logical lines (wrapped rows joined), bottom-aligned: the page lets the terminal wrap them. */
  lines: string[];
}

/**
 * Lines of history captured above the screen, so a key block whose BEGIN line scrolled off the
 * top is still masked (the redactor stops masking a block after 200 lines anyway).
 */
export const LOOKBACK = 200;

// eslint-disable-next-line no-control-regex
const TRAILING_BLANKS = / +((?:\x1b\[[0-9;:]*m)*)$/;

function rowsOf(line: string, cols: number): number {
  return Math.max(1, Math.ceil([...stripEscapes(line)].length / cols));
}

/** A frame from `capture-pane -p -J -e -S -LOOKBACK` output and the pane's size and cursor. */
export function screenFrame(
  capture: string,
  cols: number,
  rows: number,
  cursor: { x: number; y: number },
  redact: boolean,
  mask?: (line: string) => string,
): ScreenFrame {
  const all = capture.replace(/\n$/, "").split("\n");
  const redacted = redact ? redactScreenLines(all) : all;
  // Declared secret values, after redaction (which would take `[SECRET:name]` for a key's value).
  const lines = (mask ? redacted.map(mask) : redacted).map((l) => l.replace(TRAILING_BLANKS, "$1"));
  // The last lines that fill the screen; the topmost may be cut (the page scrolls it off).
  let used = 0;
  let from = lines.length;
  while (from > 0 && used < rows) used += rowsOf(lines[--from] as string, cols);
  const shown = lines.slice(from);
  while (used++ < rows) shown.unshift("");
  return { cols, rows, cursor, lines: shown };
}

/** What one capture read: screenFrame's arguments. */
export interface PaneCapture {
  capture: string;
  cols: number;
  rows: number;
  cursor: { x: number; y: number };
  redact: boolean;
  /** Masks a line's declared secret values (a profile with secrets). */
  mask?: (line: string) => string;
}

interface Watch {
  subscribers: Set<{ frame: (json: string) => void; end: () => void }>;
  last: string | undefined;
  /** The capture `last` was made from: an unchanged pane is not redacted again. */
  lastKey: string | undefined;
  busy: boolean;
  again: boolean;
  pending: NodeJS.Timeout | undefined;
  poll: NodeJS.Timeout;
}

/**
 * Shares one capture loop per session among its live pages. `capture` returns null when the
 * session has ended (its pages are closed) and throws on a failure worth trying again. Redacting
 * a screen and its history costs milliseconds (docs/performance.md), so output makes at most
 * one capture per `settleMs`, and a pane that did not change is not redone.
 */
export class PaneScreens {
  private readonly watched = new Map<string, Watch>();

  constructor(
    private readonly capture: (sessionId: string) => Promise<PaneCapture | null>,
    private readonly pollMs = 500,
    private readonly settleMs = 100,
  ) {}

  /** Frames (JSON) of `sessionId` from now on, the current one first. Returns the unsubscribe. */
  subscribe(sessionId: string, frame: (json: string) => void, end: () => void): () => void {
    let w = this.watched.get(sessionId);
    if (!w) {
      const poll = setInterval(() => this.tick(sessionId), this.pollMs);
      poll.unref();
      w = {
        subscribers: new Set(),
        last: undefined,
        lastKey: undefined,
        busy: false,
        again: false,
        pending: undefined,
        poll,
      };
      this.watched.set(sessionId, w);
    }
    const sub = { frame, end };
    w.subscribers.add(sub);
    if (w.last !== undefined) frame(w.last);
    this.tick(sessionId);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const cur = this.watched.get(sessionId);
      if (!cur) return;
      cur.subscribers.delete(sub);
      if (cur.subscribers.size === 0) this.stop(sessionId, cur);
    };
  }

  /** The pane wrote something: capture soon (bursts of output make one capture). */
  poke(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w || w.pending) return;
    w.pending = setTimeout(() => {
      w.pending = undefined;
      this.tick(sessionId);
    }, this.settleMs);
  }

  private tick(sessionId: string): void {
    const w = this.watched.get(sessionId);
    if (!w) return;
    if (w.busy) {
      w.again = true;
      return;
    }
    w.busy = true;
    this.capture(sessionId)
      .then(
        (f) => {
          if (this.watched.get(sessionId) !== w) return;
          if (f === null) {
            for (const s of [...w.subscribers]) s.end();
            this.stop(sessionId, w);
            return;
          }
          const key = JSON.stringify([f.cols, f.rows, f.cursor, f.redact, f.capture]);
          if (key === w.lastKey) return;
          w.lastKey = key;
          const json = JSON.stringify(screenFrame(f.capture, f.cols, f.rows, f.cursor, f.redact, f.mask));
          if (json === w.last) return;
          w.last = json;
          for (const s of w.subscribers) s.frame(json);
        },
        () => undefined,
      )
      .finally(() => {
        w.busy = false;
        if (w.again && this.watched.get(sessionId) === w) {
          w.again = false;
          this.tick(sessionId);
        }
      });
  }

  private stop(sessionId: string, w: Watch): void {
    clearInterval(w.poll);
    if (w.pending) clearTimeout(w.pending);
    w.subscribers.clear();
    if (this.watched.get(sessionId) === w) this.watched.delete(sessionId);
  }

  /** Sessions with a capture loop running (tests). */
  get size(): number {
    return this.watched.size;
  }

  close(): void {
    for (const [id, w] of [...this.watched]) this.stop(id, w);
  }
}
