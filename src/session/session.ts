import { randomBytes } from "node:crypto";
import type { Profile } from "../config/schema.js";
import { recvText, type TranscriptFollower } from "../transcript/reader.js";
import type { TranscriptWriter } from "../transcript/writer.js";
import { lastLines } from "./login.js";
import { cleanOutput, findBegin, findEnd, MARKER_OVERLAP } from "./output.js";
import { OutputStream } from "./stream.js";
import type { CommandResult, Completion, InputLock, SessionStatus } from "./types.js";

/**
 * One SSH session: its tmux pane, the output stream followed from the transcript, and the
 * commands run in it. Command completion is driven by the stream: every received chunk is
 * checked against the running command's markers, whether or not a tool call is waiting, so a
 * command that outlived its timeout still completes and is recorded.
 */
export interface TrackedCommand {
  result: CommandResult;
  mode: "marker" | "raw";
  nonce: string;
  /** Stream offset when the command was sent. */
  streamStart: number;
  /** Stream offset where its output starts (after the begin marker), once seen. */
  outStart?: number;
  scanFrom: number;
  /**
   * Marker mode: output cleaned so far, in pieces cut right after a line break, and the stream
   * offset where the uncleaned rest starts. Cleaning is line-local, so the pieces joined equal
   * cleaning the whole (a property test checks it); cleaning 16 MB at once at the end cost ~1 s
   * (a regex replace with millions of matches in one string), in 64 kB pieces while the output
   * streams in it is ~0.2 s spread over the run. Undefined: clean the whole at the end.
   */
  cleaned?: string[];
  cleanedTo?: number;
  /** Echo of the typed text to drop from the front of raw-mode output. */
  echo?: string;
  /** When the text went out (set by the caller once sent). */
  sentAt: number;
  releasePin?: () => void;
  fallbackTimer?: NodeJS.Timeout;
  /**
   * A finished command rebuilt by adoption: its output is not held but read on first use from
   * this byte span of the transcript (between its command_start and its completion lines).
   */
  span?: { from: number; to: number };
}

export interface SessionInit {
  id: string;
  profile: Profile;
  ownerLabel: string | null;
  createdAt: string;
  paneId: string;
  tmuxName: string;
  transcriptPath: string;
  writer: TranscriptWriter;
  /** Quiet period for the idle fallbacks. */
  idleMs: number;
}

/** Quiet period before a command whose begin marker never came counts as "no shell here". */
const NO_SHELL_QUIET_MS = 2000;

/** Raw output cleaned at a time while a marker command runs (see TrackedCommand.cleaned). */
const CLEAN_STEP = 64 * 1024;

/** Finished commands kept in memory with their output (older ones: transcript only). */
const MAX_COMMANDS = 100;

export class Session {
  readonly id: string;
  readonly profile: Profile;
  readonly ownerLabel: string | null;
  readonly createdAt: string;
  readonly paneId: string;
  readonly tmuxName: string;
  readonly transcriptPath: string;
  readonly writer: TranscriptWriter;
  readonly stream = new OutputStream();
  follower: TranscriptFollower | undefined;
  status: SessionStatus = "open";
  healthError: string | null = null;
  lastActivityAt: string;
  attachedClients = 0;
  active: TrackedCommand | undefined;
  readonly commands = new Map<string, TrackedCommand>();
  private readonly waiters = new Set<() => void>();
  private commandSeq = 0;
  readonly idleMs: number;
  /** True while a transcript is replayed into this session (adoption): nothing is written. */
  replaying = false;
  /** The session this one was reopened from (reopen_session). */
  previousSessionId: string | null = null;
  /** The last full check found the window ours, alive and with no lock (SessionManager.fastUsable). */
  fastInput = false;
  /** The input lock last seen on the window (see locks.ts). */
  lock: InputLock | null = null;
  /** The server instance that drove this session before us (adoption), if any. */
  adoptedFrom: string | null = null;
  /** The profile's prompt_regex, compiled once (validated when the config was loaded). */
  readonly prompt: RegExp | undefined;

  constructor(init: SessionInit) {
    this.id = init.id;
    this.profile = init.profile;
    this.ownerLabel = init.ownerLabel;
    this.createdAt = init.createdAt;
    this.lastActivityAt = init.createdAt;
    this.paneId = init.paneId;
    this.tmuxName = init.tmuxName;
    this.transcriptPath = init.transcriptPath;
    this.writer = init.writer;
    this.idleMs = init.idleMs;
    this.prompt = init.profile.prompt_regex ? new RegExp(init.profile.prompt_regex, "m") : undefined;
  }

  /** Called for every recv event the tap wrote. */
  onRecv(text: string): void {
    this.stream.append(text);
    this.lastActivityAt = new Date().toISOString();
    if (this.active?.mode === "marker") this.scanMarkers(this.active);
    // Output nobody waits for (a `tail -f` typed with send_text) must not grow memory forever.
    if (!this.active && this.stream.kept > 4 * 1024 * 1024) this.stream.trim();
    this.notify();
  }

  notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with the first non-undefined value of `check`, re-evaluated on every output chunk
   * or state change and at least every `pollMs`; undefined once `timeoutMs` has passed.
   */
  waitUntil<T>(check: () => T | undefined, timeoutMs: number, pollMs = 50): Promise<T | undefined> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      const finish = (v: T | undefined): void => {
        this.waiters.delete(wake);
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const wake = (): void => {
        const v = check();
        if (v !== undefined) return finish(v);
        if (Date.now() >= deadline) return finish(undefined);
        if (timer) clearTimeout(timer);
        timer = setTimeout(wake, Math.min(pollMs, Math.max(1, deadline - Date.now())));
      };
      this.waiters.add(wake);
      timer = setTimeout(wake, Math.min(pollMs, timeoutMs));
    });
  }

  newCommand(
    command: string,
    mode: "marker" | "raw",
    restore?: { id: string; nonce: string; startedAt: string; echo?: string },
  ): TrackedCommand {
    this.commandSeq++;
    const id =
      restore?.id ?? `cmd-${this.commandSeq.toString().padStart(4, "0")}-${randomBytes(3).toString("hex")}`;
    const start = this.stream.end;
    const tracked: TrackedCommand = {
      mode,
      nonce: restore?.nonce ?? randomBytes(8).toString("hex"),
      echo: restore?.echo,
      streamStart: start,
      scanFrom: start,
      sentAt: Date.now(),
      releasePin: this.stream.pin(start),
      result: {
        command_id: id,
        command,
        status: "running",
        exit_code: null,
        output: "",
        output_truncated: false,
        timed_out: false,
        completion: "timeout",
        started_at: restore?.startedAt ?? new Date().toISOString(),
        completed_at: null,
      },
    };
    this.commands.set(id, tracked);
    this.active = tracked;
    // Fallback completions are checked on a timer, not only while a tool call waits, so a
    // command that outlived its timeout still completes by prompt or quiet period.
    if (!this.replaying) this.startFallbacks(tracked);
    // Keep the ledger bounded: finished commands beyond the newest 200 are forgotten in memory
    // (their output stays in the transcript).
    if (this.commands.size > MAX_COMMANDS) {
      for (const [cid, c] of this.commands) {
        if (this.commands.size <= MAX_COMMANDS) break;
        if (c.result.status !== "running") this.commands.delete(cid);
      }
    }
    return tracked;
  }

  private scanMarkers(cmd: TrackedCommand): void {
    if (cmd.outStart === undefined) {
      const hay = this.stream.slice(Math.max(cmd.streamStart, cmd.scanFrom - MARKER_OVERLAP));
      const offset = Math.max(cmd.streamStart, cmd.scanFrom - MARKER_OVERLAP);
      const b = findBegin(hay, cmd.nonce);
      if (b === -1) {
        cmd.scanFrom = this.stream.end;
        return;
      }
      cmd.outStart = offset + b;
      cmd.scanFrom = cmd.outStart;
      cmd.cleaned = [];
      cmd.cleanedTo = cmd.outStart;
    }
    const from = Math.max(cmd.outStart, cmd.scanFrom - MARKER_OVERLAP);
    const hay = this.stream.slice(from);
    const e = findEnd(hay, cmd.nonce);
    if (!e) {
      cmd.scanFrom = this.stream.end;
      this.cleanAhead(cmd);
      return;
    }
    this.finish(cmd, "completed", "marker", e.exitCode, this.markerOutput(cmd, from + e.outputEnd));
  }

  /** Cleans a running marker command's output up to the last line break, once 64 kB have come. */
  private cleanAhead(cmd: TrackedCommand): void {
    if (cmd.cleaned === undefined || cmd.cleanedTo === undefined) return;
    // The last MARKER_OVERLAP characters stay raw: the end marker (and the line break before it,
    // which is not output) may be arriving there.
    const until = this.stream.end - MARKER_OVERLAP;
    if (until - cmd.cleanedTo < CLEAN_STEP) return;
    const raw = this.stream.slice(cmd.cleanedTo, until);
    const cut = raw.lastIndexOf("\n") + 1;
    if (cut === 0) return; // one long line so far: it is cleaned at the end
    // A marker printed late by a nested shell is removed with the line break before it: where
    // one is near, piecewise cleaning could keep that line break, so clean the whole at the end.
    if (this.stream.slice(cmd.cleanedTo, cmd.cleanedTo + cut + MARKER_OVERLAP).includes("__SSHMCP_")) {
      cmd.cleaned = cmd.cleanedTo = undefined;
      return;
    }
    cmd.cleaned.push(cleanOutput(raw.slice(0, cut)));
    cmd.cleanedTo += cut;
  }

  /** A marker command's cleaned output from its start to stream offset `to`. */
  private markerOutput(cmd: TrackedCommand, to: number): string {
    const start = cmd.outStart ?? to;
    if (cmd.cleaned === undefined || cmd.cleanedTo === undefined || cmd.cleanedTo > to)
      return cleanOutput(this.stream.slice(start, to));
    return cmd.cleaned.join("") + cleanOutput(this.stream.slice(cmd.cleanedTo, to));
  }

  /** Moves a command's start to the end of the stream (replay: its output comes next). */
  restartAtEnd(cmd: TrackedCommand): void {
    cmd.releasePin?.();
    cmd.streamStart = cmd.scanFrom = this.stream.end;
    cmd.outStart = cmd.cleaned = cmd.cleanedTo = undefined;
    cmd.releasePin = this.stream.pin(this.stream.end);
  }

  startFallbacks(cmd: TrackedCommand): void {
    if (cmd.fallbackTimer || cmd.result.status !== "running") return;
    cmd.fallbackTimer = setInterval(
      () => this.checkFallbacks(cmd),
      Math.max(20, Math.min(100, this.idleMs / 4)),
    );
    cmd.fallbackTimer.unref();
  }

  /**
   * Completion for input no POSIX shell answers. Once output has been quiet for the idle period:
   * raw mode completes ("prompt" if prompt_regex matches the last line, else "idle"); marker mode
   * whose command started completes by prompt_regex only (it entered a nested shell or an
   * interactive program); marker mode whose begin marker never came (a menu, a REPL, fish)
   * completes after twice the idle period.
   */
  checkFallbacks(cmd: TrackedCommand): void {
    if (cmd.result.status !== "running" || this.replaying) return;
    const quietFor = Date.now() - Math.max(this.stream.lastRecvAt, cmd.sentAt);
    if (quietFor < this.idleMs || this.stream.end <= cmd.streamStart) return;
    const tail = lastLines(
      cleanOutput(this.stream.slice(Math.max(cmd.streamStart, this.stream.end - 2000))),
      1,
    );
    const atPrompt = this.prompt?.test(tail) ?? false;
    if (cmd.mode === "raw") return this.finish(cmd, "completed", atPrompt ? "prompt" : "idle", null);
    if (cmd.outStart !== undefined) {
      if (atPrompt) this.finish(cmd, "completed", "prompt", null);
      return;
    }
    // No begin marker at all: wait longer than for anything else, a loaded machine can be slow
    // to run even the first printf.
    if (atPrompt || quietFor >= Math.max(2 * this.idleMs, NO_SHELL_QUIET_MS)) {
      this.finish(cmd, "completed", atPrompt ? "prompt" : "idle", null);
    }
  }

  /** Output so far of a command, cleaned (the whole output once it is finished). */
  currentOutput(cmd: TrackedCommand): string {
    if (cmd.span) {
      cmd.result.output = outputOfText(recvText(this.transcriptPath, cmd.span.from, cmd.span.to), cmd);
      cmd.span = undefined;
    }
    if (cmd.result.status !== "running") return cmd.result.output;
    if (cmd.mode === "marker") {
      if (cmd.outStart === undefined) return "";
      return this.markerOutput(cmd, this.stream.end);
    }
    return dropEcho(cleanOutput(this.stream.slice(cmd.streamStart)), cmd.echo);
  }

  finish(
    cmd: TrackedCommand,
    status: CommandResult["status"],
    completion: Completion,
    exitCode: number | null,
    output?: string,
  ): void {
    if (cmd.result.status !== "running") return;
    const text = output ?? this.currentOutput(cmd);
    cmd.result = {
      ...cmd.result,
      status,
      completion,
      exit_code: exitCode,
      output: text,
      completed_at: new Date().toISOString(),
    };
    cmd.releasePin?.();
    cmd.cleaned = cmd.cleanedTo = undefined;
    if (cmd.fallbackTimer) clearInterval(cmd.fallbackTimer);
    if (this.active === cmd) this.active = undefined;
    this.stream.trim();
    this.notify();
    if (this.replaying) return;
    const event =
      status === "completed"
        ? "command_complete"
        : status === "cancelled"
          ? "command_cancel"
          : "command_complete";
    this.writer.write(event, {
      ts: cmd.result.completed_at,
      command_id: cmd.result.command_id,
      status,
      exit_code: exitCode,
      completion,
      output_chars: text.length,
    });
    this.notify();
  }
}

/** A command's output from the raw text it spans: what the live path would have kept. */
export function outputOfText(text: string, cmd: Pick<TrackedCommand, "mode" | "nonce" | "echo">): string {
  if (cmd.mode === "raw") return dropEcho(cleanOutput(text), cmd.echo);
  const b = findBegin(text, cmd.nonce);
  if (b === -1) return "";
  const e = findEnd(text, cmd.nonce, b);
  return cleanOutput(text.slice(b, e ? e.outputEnd : undefined));
}

/**
 * Drops the echoed input line, and anything before it (the tail of the previous prompt may
 * arrive after the command was sent), from the front of raw-mode output.
 */
export function dropEcho(output: string, echo: string | undefined): string {
  const first = echo?.split("\n")[0]?.trim();
  if (!first) return output;
  const i = output.indexOf(first);
  if (i === -1 || i > 1024) return output;
  let nl = output.indexOf("\n", i + first.length);
  // Typed while the previous output was still arriving, the line can show twice (the tty's echo,
  // then readline redrawing it after the prompt): drop the repeats that follow at once.
  for (;;) {
    if (nl === -1) return "";
    const next = output.indexOf("\n", nl + 1);
    const line = output.slice(nl + 1, next === -1 ? undefined : next);
    if (!line.includes(first)) return output.slice(nl + 1);
    nl = next;
  }
}
