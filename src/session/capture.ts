import { recvText } from "../transcript/reader.js";
import { OutputDigest } from "./output/budget.js";
import { CLEAN_PIECE, cleanLong, cleanOutput, cutBefore, dropEcho } from "./output/clean.js";
import { findBegin, findEnd, MARKER_OVERLAP, type EndMatch } from "./output/markers.js";
import type { OutputStream } from "./stream.js";

/**
 * One command's output capture: where its output lies in the session's stream, what of it is
 * cleaned and held, and, once it is finished, whether its output is held or must be read back
 * from the transcript. Session feeds it (scan, per chunk) and asks it (soFar, capHeld).
 *
 * States, and the event that moves a capture from one to the next:
 *
 *   (created, marker mode) ──────────────────────────────────────────▶ awaiting_begin
 *   (created, raw mode) ─────────────────────────────────────────────▶ streaming_raw
 *   awaiting_begin ── scan finds the begin mark ─────────────────────▶ streaming
 *   streaming ─────── scan: 64 kB more up to a line break (cleanAhead) ▶ streaming (the pin moves up)
 *   streaming ─────── settle (end mark, or any finish), output long ─▶ finished_digest (preview)
 *   any running ───── close (Session.finish), not settled long ──────▶ finished_held
 *   finished_held ─── onTranscript (a replay rebuilt it) ────────────▶ finished_digest (no preview)
 *   finished_digest ─ held (read back short from the transcript) ────▶ finished_held
 *   any running ───── restartAtEnd (replay: output comes next) ──────▶ awaiting_begin | streaming_raw
 *
 * Memory: while running, the stream is pinned from where raw text is still needed (the start,
 * then the end of what is cleaned). A marker command's output is cleaned in 64 kB pieces cut
 * right after a line break as it streams in: cleaning is line-local, so the pieces joined equal
 * cleaning the whole (a property test checks it); 16 MB cleaned at once at the end cost ~1 s (a
 * regex replace with millions of matches in one string), in pieces ~0.2 s spread over the run,
 * and the raw text can go once cleaned. The pieces go into an OutputDigest, which holds only
 * head, tail and length once the output is long; the whole is then re-read from the transcript.
 */
export type CaptureState = AwaitingBegin | Streaming | StreamingRaw | FinishedHeld | FinishedDigest;

/** A marker command whose begin mark has not come; the stream was searched up to `scanFrom`. */
export interface AwaitingBegin {
  kind: "awaiting_begin";
  scanFrom: number;
}

/**
 * A marker command's output is coming from `outStart`: cleaned up to `cleanedTo` (cut after a
 * line break), the end mark searched up to `scanFrom`, and the uncleaned rest searched for a
 * line break in vain up to `noBreakTo` (a long line is not searched again on every chunk).
 */
export interface Streaming {
  kind: "streaming";
  outStart: number;
  scanFrom: number;
  cleaned: OutputDigest;
  cleanedTo: number;
  noBreakTo: number;
}

/** A raw-mode command: its output is everything since it was sent, its echo dropped (no marks). */
export interface StreamingRaw {
  kind: "streaming_raw";
}

/** Finished, its whole output in the command's result. */
export interface FinishedHeld {
  kind: "finished_held";
}

/**
 * Finished, its output not held (long, or rebuilt by a replay): read from this byte span of the
 * transcript when first needed; a long one keeps its head and tail (`preview`) for the reply.
 */
export interface FinishedDigest {
  kind: "finished_digest";
  span: { from: number; to: number };
  preview: OutputDigest | undefined;
}

/** What a capture needs to know of its command. */
export interface CaptureSpec {
  mode: "marker" | "raw";
  nonce: string;
  /** Echo of the typed text to drop from the front of raw-mode output. */
  echo?: string | undefined;
}

export class CommandCapture {
  state: CaptureState;
  readonly mode: "marker" | "raw";
  readonly nonce: string;
  echo: string | undefined;
  /** Stream offset when the command was sent (or restarted). */
  streamStart: number;
  /** Transcript byte offset at or before its first output line (where a re-read starts). */
  from: number | undefined;
  private releasePin: () => void;

  /** `hold`: output characters held at least (OutputDigest). */
  constructor(
    private readonly stream: OutputStream,
    spec: CaptureSpec,
    readonly hold: number,
    from: number | undefined,
  ) {
    this.mode = spec.mode;
    this.nonce = spec.nonce;
    this.echo = spec.echo;
    this.from = from;
    this.streamStart = stream.end;
    this.releasePin = stream.pin(this.streamStart);
    this.state = this.runningState();
  }

  private runningState(): AwaitingBegin | StreamingRaw {
    return this.mode === "marker"
      ? { kind: "awaiting_begin", scanFrom: this.streamStart }
      : { kind: "streaming_raw" };
  }

  /** Its begin mark has not come yet (marker mode). */
  get awaitingBegin(): boolean {
    return this.state.kind === "awaiting_begin";
  }

  /** A finished long output's head and tail, while it is not held. */
  get preview(): OutputDigest | undefined {
    return this.state.kind === "finished_digest" ? this.state.preview : undefined;
  }

  /**
   * After each chunk (marker mode): looks for the begin mark, then the end mark, searching only
   * what is new (backing up MARKER_OVERLAP across chunk edges), and cleans ahead. The end mark at
   * absolute stream offsets once it came (the command is then settled and closed by Session).
   */
  scan(): EndMatch | undefined {
    let st = this.state;
    if (st.kind === "awaiting_begin") {
      const offset = Math.max(this.streamStart, st.scanFrom - MARKER_OVERLAP);
      const b = findBegin(this.stream.slice(offset), this.nonce);
      if (b === -1) {
        st.scanFrom = this.stream.end;
        return undefined;
      }
      const outStart = offset + b;
      const cleaned = new OutputDigest(this.hold);
      st = this.state = {
        kind: "streaming",
        outStart,
        scanFrom: outStart,
        cleaned,
        cleanedTo: outStart,
        noBreakTo: 0,
      };
    }
    if (st.kind !== "streaming") return undefined;
    const from = Math.max(st.outStart, st.scanFrom - MARKER_OVERLAP);
    const e = findEnd(this.stream.slice(from), this.nonce);
    if (!e) {
      st.scanFrom = this.stream.end;
      this.cleanAhead(st);
      return undefined;
    }
    return { outputEnd: from + e.outputEnd, markerEnd: from + e.markerEnd, exitCode: e.exitCode };
  }

  /** Cleans a running marker command's output up to the last line break, once 64 kB have come. */
  private cleanAhead(st: Streaming): void {
    // The last MARKER_OVERLAP characters stay raw: the end marker (and the line break before it,
    // which is not output) may be arriving there.
    const until = this.stream.end - MARKER_OVERLAP;
    if (until - st.cleanedTo < CLEAN_PIECE) return;
    // Only text not yet searched is searched for a line break: a long line (base64 -w0, a
    // minified file) would otherwise be copied and searched again on every chunk.
    const from = Math.max(st.cleanedTo, st.noBreakTo);
    const fresh = this.stream.slice(from, until);
    const nl = cutBefore(fresh, 0, fresh.length);
    if (nl === 0) {
      st.noBreakTo = until; // one long line so far: it is cleaned with what follows
      return;
    }
    const cut = from + nl;
    st.cleaned.push(cleanOutput(this.stream.slice(st.cleanedTo, cut)));
    st.cleanedTo = cut;
    // The raw text before this point is not needed any more: let the stream drop it.
    this.releasePin();
    this.releasePin = this.stream.pin(cut);
  }

  /**
   * A streaming command's cleaned output up to stream offset `to`, as it ends: the whole while it
   * is held, else its digest (then finished_digest, with the transcript span a re-read uses,
   * ending at `spanTo`). Undefined when nothing was cleaned (no begin mark, or raw mode).
   */
  settle(to: number, spanTo: number): string | OutputDigest | undefined {
    const st = this.state;
    if (st.kind !== "streaming") return undefined;
    st.cleaned.push(cleanOutput(this.stream.slice(Math.min(st.cleanedTo, to), to)));
    const whole = st.cleaned.whole();
    if (whole !== undefined) return whole;
    this.state = { kind: "finished_digest", span: { from: this.from ?? 0, to: spanTo }, preview: st.cleaned };
    return st.cleaned;
  }

  /** settle, or before any begin mark all that came since the command was sent, cleaned. */
  settleAt(to: number, spanTo: number): string | OutputDigest {
    return this.settle(to, spanTo) ?? cleanOutput(this.stream.slice(this.streamStart, to));
  }

  /** The command finished (Session.finish): the raw text goes; the output is held unless settled long. */
  close(): void {
    this.releasePin();
    if (this.state.kind !== "finished_digest") this.state = { kind: "finished_held" };
  }

  /** A finished command rebuilt by a replay: its output is this span of the transcript. */
  onTranscript(from: number, to: number): void {
    const preview = this.state.kind === "finished_digest" ? this.state.preview : undefined;
    this.state = { kind: "finished_digest", span: { from, to }, preview };
  }

  /** The output read back whole has been put in the result: nothing more to read. */
  held(): void {
    this.state = { kind: "finished_held" };
  }

  /** A finished_digest output read back from the transcript (what the live path would have kept). */
  readBack(transcriptPath: string): string {
    if (this.state.kind !== "finished_digest") return "";
    const { from, to } = this.state.span;
    return outputOfText(recvText(transcriptPath, from, to), this);
  }

  /**
   * A running command's cleaned output so far; a long one is read again from the transcript up
   * to `readTo` (only its head and tail are held). A finished one's is the result's (Session).
   */
  soFar(transcriptPath: string, readTo: number): string {
    const st = this.state;
    switch (st.kind) {
      case "streaming_raw":
        return dropEcho(cleanOutput(this.stream.slice(this.streamStart)), this.echo);
      case "streaming": {
        const whole = st.cleaned.whole();
        if (whole !== undefined) return whole + cleanOutput(this.stream.slice(st.cleanedTo));
        return outputOfText(recvText(transcriptPath, this.from ?? 0, readTo), this);
      }
      default:
        return "";
    }
  }

  /**
   * capOutput of the output from what is held, for max <= hold: a finished long output's head
   * and tail, or a streaming one's cleaned part and raw rest. Undefined: the whole is needed.
   */
  capHeld(max: number): { output: string; truncated: boolean } | undefined {
    if (max > this.hold) return undefined;
    const st = this.state;
    if (st.kind === "finished_digest") return st.preview?.cap(max);
    if (st.kind === "streaming") return st.cleaned.cap(max, cleanOutput(this.stream.slice(st.cleanedTo)));
    return undefined;
  }

  /** Replay: the command's output comes next in the stream, from transcript offset `from`. */
  restartAtEnd(from?: number): void {
    this.releasePin();
    this.from = from;
    this.streamStart = this.stream.end;
    this.releasePin = this.stream.pin(this.streamStart);
    this.state = this.runningState();
  }
}

/** A command's output from the raw text it spans: what the live path would have kept. */
export function outputOfText(text: string, cmd: CaptureSpec): string {
  if (cmd.mode === "raw") return dropEcho(cleanLong(text), cmd.echo);
  const b = findBegin(text, cmd.nonce);
  if (b === -1) return "";
  const e = findEnd(text, cmd.nonce, b);
  return cleanLong(text.slice(b, e ? e.outputEnd : undefined));
}
