import { randomBytes } from "node:crypto";
import type { Profile } from "../config/schema.js";
import { recvText, type TranscriptFollower } from "../transcript/reader.js";
import type { TranscriptWriter } from "../transcript/writer.js";
import { lastLines } from "./login.js";
import {
  capOutput,
  CLEAN_PIECE,
  cleanLong,
  cleanOutput,
  cutBefore,
  findBegin,
  findEnd,
  MARKER_OVERLAP,
  OutputDigest,
} from "./output.js";
import { classifyScreen, sameShape, type InputKind, type ScreenState } from "./screen.js";
import { echoEnd, entersShell, helpersMissing, UNKNOWN_SHELL, type ShellState } from "./shells.js";
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
   * streams in it is ~0.2 s spread over the run, and the raw text can go once cleaned. A long
   * output is held as head, tail and length only (OutputDigest).
   */
  cleaned?: OutputDigest;
  cleanedTo?: number;
  /** Stream offset up to which the uncleaned text was searched for a line break in vain. */
  noBreakTo?: number;
  /** Transcript byte offset at or before its first output line (where a re-read starts). */
  from?: number;
  /** A finished long output's head and tail, while `span` says where the whole is. */
  preview?: OutputDigest;
  /** Echo of the typed text to drop from the front of raw-mode output. */
  echo?: string;
  /** When the text went out (set by the caller once sent). */
  sentAt: number;
  /** Why a marked command did not start (completion "not_started"). */
  notStarted?: string;
  /** A probe of the shell it may have entered is under way / ended at this stream offset. */
  probing?: boolean;
  probedAt?: number;
  /** What a running command's screen waits for, when it settled on a question (screen.ts). */
  waiting?: { input_kind: InputKind; prompt: string };
  releasePin?: () => void;
  fallbackTimer?: NodeJS.Timeout;
  /**
   * A finished command whose output is not held (rebuilt by adoption, or long): it is read from
   * this byte span of the transcript when first needed (see Session.currentOutput).
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
  /** The longest output a tool reply carries (capped beyond): a command holds at least this. */
  resultOutputChars?: number;
}

/**
 * Quiet period after which a command whose begin mark never came counts as not started (when the
 * shell did not already say that our helper is missing). A shell at its prompt prints the mark
 * as soon as it reads the line, in the same burst as the echo.
 */
const NOT_STARTED_QUIET_MS = 1000;

/** Output characters a command holds at least (more if replies carry more, SessionInit). */
const DEFAULT_HOLD = 256 * 1024;

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
  /**
   * Recording health (docs/audit.md): the recorder's pid from its `recorder` event, when the
   * transcript last took an event, and why it cannot be written (then no input goes in).
   */
  recorderPid: number | null = null;
  /** The time (ISO) of the last event the recorder itself wrote: where a gap starts. */
  lastRecordedTs: string | null = null;
  /** When a new recorder was piped that has not named itself yet (ms), else null. */
  recorderPipedAt: number | null = null;
  recordingError: string | null = null;
  /** A recorder_lost was written and its gap event is still to come. */
  pendingGap: { since: string; reason: string; at: number } | null = null;
  /** A repair of the recorder is under way (one at a time). */
  repairing: Promise<void> | undefined;
  /** Failed repairs in a row, and when the next may run (ms): retries back off. */
  repairFailures = 0;
  nextRepairAt = 0;
  lastActivityAt: string;
  attachedClients = 0;
  active: TrackedCommand | undefined;
  readonly commands = new Map<string, TrackedCommand>();
  private readonly waiters = new Set<() => void>();
  private commandSeq = 0;
  readonly idleMs: number;
  readonly holdChars: number;
  /** The one long finished output held whole after a re-read (see currentOutput). */
  private reread: TrackedCommand | undefined;
  /** Transcript byte offset just past the line being passed to onRecv (when the caller knows). */
  private lineEnd: number | undefined;
  /** True while a transcript is replayed into this session (adoption): nothing is written. */
  replaying = false;
  /** The session this one was reopened from (reopen_session). */
  previousSessionId: string | null = null;
  /** The last full check found the window ours, alive and with no lock (the `send` access of SessionHost.access). */
  fastInput = false;
  /** The input lock last seen on the window (see locks.ts). */
  lock: InputLock | null = null;
  /** The server instance that drove this session before us (adoption), if any. */
  adoptedFrom: string | null = null;
  /** The profile's prompt_regex, compiled once (validated when the config was loaded). */
  readonly prompt: RegExp | undefined;
  /** The shell at the prompt, as the last probe found it (shells.ts). */
  shell: ShellState = UNKNOWN_SHELL;
  /** The prompt line seen after our last marked command or probe (an exact "at the prompt"). */
  knownPrompt: string | null = null;
  /** Stream offset just past the last end mark or probe answer: the prompt follows it. */
  promptFrom = -1;
  /** inputGen when promptFrom was set: while unchanged, what follows it is the prompt. */
  promptGen = -1;
  /** promptFrom when knownPrompt was learnt. */
  private knownFrom = -1;
  /** Counts input that did not go through a marked command (send_text, keys, route, humans). */
  inputGen = 0;
  /** The screen's line where a probe last got no answer (not probed again on that line). */
  otherLine: string | null = null;
  /** The alternate screen is on, as the stream's own switch sequences say. */
  altScreen = false;
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
    this.holdChars = Math.max(DEFAULT_HOLD, init.resultOutputChars ?? 0);
    this.prompt = init.profile.prompt_regex ? new RegExp(init.profile.prompt_regex, "m") : undefined;
  }

  /** Called for every recv event the tap wrote; `lineEnd`: the byte offset just past its line. */
  onRecv(text: string, lineEnd?: number): void {
    this.lineEnd = lineEnd;
    this.stream.append(text);
    if (text.includes("\x1b[?")) {
      // The last switch in the chunk wins: 1049/1047/47 h (enter) or l (leave).
      // eslint-disable-next-line no-control-regex
      const re = /\x1b\[\?(?:1049|1047|47)([hl])/g;
      for (let m = re.exec(text); m; m = re.exec(text)) this.altScreen = m[1] === "h";
    }
    this.lastActivityAt = new Date().toISOString();
    if (this.active?.mode === "marker") this.scanMarkers(this.active);
    else if (this.knownFrom !== this.promptFrom) this.learnPrompt();
    // Output must not grow memory forever (a `tail -f` typed with send_text, a long command):
    // what a running command or a waiting call still needs is pinned.
    if (this.stream.kept > 1024 * 1024) this.stream.trim();
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
      from: this.follower?.lineStart ?? this.lineEnd ?? 0,
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
    // Keep the ledger bounded: finished commands beyond the newest 100 (MAX_COMMANDS) are forgotten in memory
    // (their output stays in the transcript).
    if (this.commands.size > MAX_COMMANDS) {
      for (const [cid, c] of this.commands) {
        if (this.commands.size <= MAX_COMMANDS) break;
        if (c.result.status === "running") continue;
        this.commands.delete(cid);
        if (c === this.reread) this.reread = undefined;
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
      cmd.cleaned = new OutputDigest(this.holdChars);
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
    const to = from + e.outputEnd;
    this.promptAt(from + e.markerEnd);
    // The span ends with the line holding the end marker (the follower is mid-read here).
    const output =
      this.settle(cmd, to, this.lineEnd ?? Number.MAX_SAFE_INTEGER) ??
      cleanOutput(this.stream.slice(cmd.outStart, to));
    this.finish(cmd, "completed", "marker", e.exitCode, output);
    this.learnPrompt();
  }

  /**
   * A marker command's cleaned output up to stream offset `to`, as it ends: the whole while it
   * is held, else its digest, with the transcript span a re-read uses (ending at `spanTo`).
   * Undefined when nothing was cleaned (its begin marker never came).
   */
  private settle(cmd: TrackedCommand, to: number, spanTo: number): string | OutputDigest | undefined {
    if (!cmd.cleaned || cmd.cleanedTo === undefined) return undefined;
    cmd.cleaned.push(cleanOutput(this.stream.slice(Math.min(cmd.cleanedTo, to), to)));
    const whole = cmd.cleaned.whole();
    if (whole !== undefined) return whole;
    cmd.preview = cmd.cleaned;
    cmd.span = { from: cmd.from ?? 0, to: spanTo };
    return cmd.preview;
  }

  /** Transcript offset of the first line not yet passed on (the end of a re-read of "so far"). */
  private get readTo(): number {
    return this.follower?.lineStart ?? this.lineEnd ?? Number.MAX_SAFE_INTEGER;
  }

  /** Cleans a running marker command's output up to the last line break, once 64 kB have come. */
  private cleanAhead(cmd: TrackedCommand): void {
    if (cmd.cleaned === undefined || cmd.cleanedTo === undefined) return;
    // The last MARKER_OVERLAP characters stay raw: the end marker (and the line break before it,
    // which is not output) may be arriving there.
    const until = this.stream.end - MARKER_OVERLAP;
    if (until - cmd.cleanedTo < CLEAN_PIECE) return;
    // Only text not yet searched is searched for a line break: a long line (base64 -w0, a
    // minified file) would otherwise be copied and searched again on every chunk.
    const from = Math.max(cmd.cleanedTo, cmd.noBreakTo ?? 0);
    const fresh = this.stream.slice(from, until);
    const nl = cutBefore(fresh, 0, fresh.length);
    if (nl === 0) {
      cmd.noBreakTo = until; // one long line so far: it is cleaned with what follows
      return;
    }
    const cut = from + nl;
    cmd.cleaned.push(cleanOutput(this.stream.slice(cmd.cleanedTo, cut)));
    cmd.cleanedTo = cut;
    // The raw text before this point is not needed any more: let the stream drop it.
    cmd.releasePin?.();
    cmd.releasePin = this.stream.pin(cmd.cleanedTo);
  }

  /** A running marker command's cleaned output so far. */
  private markerOutput(cmd: TrackedCommand): string {
    const rest = (from: number): string => cleanOutput(this.stream.slice(from));
    if (cmd.cleaned === undefined || cmd.cleanedTo === undefined)
      return rest(cmd.outStart ?? this.stream.end);
    const whole = cmd.cleaned.whole();
    if (whole !== undefined) return whole + rest(cmd.cleanedTo);
    // Only its head and tail are held: read it again from the transcript.
    return outputOfText(recvText(this.transcriptPath, cmd.from ?? 0, this.readTo), cmd);
  }

  /** capOutput of a command's output, from what is held when the output is long. */
  cappedOutput(cmd: TrackedCommand, max: number): { output: string; truncated: boolean } {
    if (cmd.preview && cmd.span && max <= this.holdChars) return cmd.preview.cap(max);
    if (
      cmd.result.status === "running" &&
      cmd.mode === "marker" &&
      cmd.cleaned &&
      cmd.cleanedTo !== undefined &&
      max <= this.holdChars
    )
      return cmd.cleaned.cap(max, cleanOutput(this.stream.slice(cmd.cleanedTo)));
    return capOutput(this.currentOutput(cmd), max);
  }

  /**
   * Moves a command's start to the end of the stream (replay: its output comes next, from
   * transcript offset `from`).
   */
  restartAtEnd(cmd: TrackedCommand, from?: number): void {
    cmd.releasePin?.();
    cmd.from = from;
    cmd.streamStart = cmd.scanFrom = this.stream.end;
    cmd.outStart = cmd.cleaned = cmd.cleanedTo = cmd.noBreakTo = undefined;
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
   * Completion without an end mark, checked on a timer (so a command past its timeout still
   * ends), once output has been quiet for the idle period:
   * - raw mode (a menu, a REPL, a shell that answered no probe) completes: "prompt" when
   *   prompt_regex matches the last line, else "idle";
   * - marked mode whose begin mark never came did not start: the shell said our helper is
   *   missing (another shell is listening), or the line drew no mark at all. It fails as
   *   "not_started" (execute_command probes again, or says NOT_STARTED): nothing of it ran;
   * - marked mode that started completes as "prompt" when it left us at a prompt: prompt_regex
   *   matches, or the command may enter or leave a shell (ssh, su, kubectl exec, bash, exit) and
   *   the last line looks like a shell prompt. The shell there is probed before the next command.
   */
  checkFallbacks(cmd: TrackedCommand): void {
    if (cmd.result.status !== "running" || this.replaying) return;
    const quietFor = Date.now() - Math.max(this.stream.lastRecvAt, cmd.sentAt);
    if (cmd.mode === "marker" && cmd.outStart === undefined) {
      const since = cleanOutput(this.stream.slice(cmd.streamStart));
      if (helpersMissing(since, cmd.nonce))
        return this.notStarted(cmd, "the shell has no ssh-mcp helpers: another shell is listening");
      // No mark yet is not "did not start" while the shell may still be busy before reading the
      // line (a slow prompt, typeahead): only once it has taken the line and drawn a fresh prompt.
      const end = echoEnd(since, cmd.nonce);
      if (
        end !== -1 &&
        quietFor >= Math.max(this.idleMs, NOT_STARTED_QUIET_MS) &&
        freshPrompt(since.slice(end), this.knownPrompt)
      )
        return this.notStarted(cmd, "no begin mark: the shell took the line and did not run it");
      return;
    }
    if (quietFor < this.idleMs || this.stream.end <= cmd.streamStart) return;
    const tail = lastLines(
      cleanOutput(this.stream.slice(Math.max(cmd.streamStart, this.stream.end - 2000))),
      1,
    );
    const atPrompt = this.prompt?.test(tail) ?? false;
    if (cmd.mode === "raw") return this.finish(cmd, "completed", atPrompt ? "prompt" : "idle", null);
    if (atPrompt) {
      this.shellChanged();
      return this.finish(cmd, "completed", "prompt", null);
    }
    // A command that may have entered or left a shell, quiet on what looks like a shell's prompt
    // (its prompt character and a space, the cursor right after): the shell there is probed, and
    // only its answer completes the command (a progress line ending in `%` is not a prompt).
    if (!this.nestedProbe || cmd.probing || !entersShell(cmd.result.command)) return;
    if (cmd.probedAt !== undefined && this.stream.end <= cmd.probedAt) return;
    const cursor = cleanOutput(this.stream.slice(Math.max(cmd.streamStart, this.stream.end - 400)))
      .split("\n")
      .pop();
    const known = this.knownPrompt !== null && cursor?.trimEnd() === this.knownPrompt.trimEnd();
    if (!cursor || !(known || sameShape(cursor, null)) || !this.screen().shellLike) return;
    cmd.probing = true;
    void this.nestedProbe(cmd);
  }

  /** Set by the operations layer: probes the shell a running command may have entered. */
  nestedProbe: ((cmd: TrackedCommand) => Promise<void>) | undefined;

  /** Completes a running marked command with its output up to stream offset `to`. */
  finishAt(cmd: TrackedCommand, to: number, completion: Completion): void {
    const output =
      this.settle(cmd, to, this.readTo) ??
      cleanOutput(this.stream.slice(cmd.outStart ?? cmd.streamStart, to));
    this.finish(cmd, "completed", completion, null, output);
  }

  private notStarted(cmd: TrackedCommand, reason: string): void {
    this.shellChanged();
    cmd.notStarted = reason;
    this.finish(cmd, "failed", "not_started", null, "");
  }

  /** The shell at the prompt may not be the one probed last: probe before the next command. */
  shellChanged(): void {
    const was = this.shell.family;
    this.shell = UNKNOWN_SHELL;
    this.knownPrompt = null;
    this.inputGen++;
    // Recorded, so a replay after a restart does not bring back the shell probed before.
    if (!this.replaying && was !== "unknown")
      this.writer.write("event", { event: "shell", family: "unknown", name: null });
  }

  /**
   * Input went in that was not a marked command: what listens may have changed. `text` is what
   * an agent or human typed (not a command typed as-is by execute_command): it lifts the
   * "no shell on this line" memory and is remembered (see lastTyped).
   */
  otherInput(from: "typed" | "raw" = "typed", text?: string): void {
    this.inputGen++;
    this.lastInputAt = Date.now();
    if (from === "typed") {
      this.otherLine = null;
      if (text !== undefined) this.lastTyped = text;
    }
  }

  /** The last text typed with send_text, the viewer or a route step (not secrets). */
  lastTyped = "";

  /**
   * Runs `fn` alone among this session's inputs: a command's check and send, a probe's two
   * lines, send_text, send_keys. Without it two calls at once could interleave keystrokes, or
   * both pass the "no command running" check and one command's marks go unread.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.inputQueue.then(fn, fn);
    this.inputQueue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private inputQueue: Promise<void> = Promise.resolve();

  /** When otherInput last happened (ms). */
  lastInputAt = 0;

  /**
   * The prompt is learnt once after each mark, from what the shell printed right after it (as
   * soon as it comes, see onRecv), and only while that is one line and no other input went in:
   * later input, by a human in tmux too, never becomes it.
   */
  private learnPrompt(): void {
    if (this.promptFrom < 0 || this.knownFrom === this.promptFrom || this.stream.end <= this.promptFrom)
      return;
    if (this.active !== undefined || this.promptGen !== this.inputGen) return;
    const since = cleanOutput(this.stream.slice(this.promptFrom, this.promptFrom + 4000));
    if (!since.trim() || since.trimStart().includes("\n")) return;
    this.knownPrompt = since.replace(/^[\r\n]+/, "").trimEnd();
    this.knownFrom = this.promptFrom;
  }

  /** Marks where the shell's prompt starts (after an end mark or a probe's answer). */
  promptAt(offset: number): void {
    this.promptFrom = offset;
    this.promptGen = this.inputGen;
    // The prompt may be here already (it came in the same read as the mark).
    this.learnPrompt();
  }

  /**
   * The screen's state from the stream's tail (a full-screen program: kind "other"). The line
   * the shell printed after our last end mark, with no other input since, is its prompt whatever
   * it looks like.
   */
  screen(): ScreenState {
    const tail = cleanOutput(this.stream.slice(Math.max(0, this.stream.end - 4000)));
    let known = this.knownPrompt;
    // Right after our own mark with no input since, the shell is printing its prompt (while no
    // command runs: a running command's output follows that mark too).
    const idle = this.active === undefined && this.promptGen === this.inputGen && this.promptFrom >= 0;
    // Nothing visible yet since the mark: the shell may first write invisible sequences (fish:
    // bracketed paste, the title), then its prompt; a slow machine shows the gap between them.
    const drawing =
      idle &&
      this.stream.end > this.promptFrom &&
      this.stream.end - this.promptFrom < 4096 &&
      cleanOutput(this.stream.slice(this.promptFrom)).trim() === "";
    if (idle && (this.stream.end === this.promptFrom || drawing) && !this.altScreen)
      return {
        kind: "prompt",
        line: known ?? "",
        shellLike: true,
        probeWorthy: true,
        known: true,
        cursor: "",
      };
    if (idle) this.learnPrompt();
    known = this.knownPrompt;
    return classifyScreen(tail, {
      alternate: this.altScreen,
      prompt: this.prompt,
      knownPrompt: known,
      knownFresh: idle,
    });
  }

  /** Output so far of a command, cleaned (the whole output once it is finished). */
  currentOutput(cmd: TrackedCommand): string {
    if (cmd.span && this.reread !== cmd) {
      const text = outputOfText(recvText(this.transcriptPath, cmd.span.from, cmd.span.to), cmd);
      if (cmd.preview && text.length !== cmd.preview.length) {
        // The transcript is gone or cut short: what it gave, without forgetting the digest.
        return text;
      } else if (text.length <= 2 * this.holdChars) {
        cmd.result.output = text;
        cmd.span = cmd.preview = undefined;
      } else {
        // A long output is held whole for one command at a time (someone paging through it):
        // the one held before goes back to its span.
        if (this.reread) this.reread.result.output = "";
        cmd.result.output = text;
        this.reread = cmd;
      }
    }
    if (cmd.result.status !== "running") return cmd.result.output;
    if (cmd.mode === "marker") {
      if (cmd.outStart === undefined) return "";
      return this.markerOutput(cmd);
    }
    return dropEcho(cleanOutput(this.stream.slice(cmd.streamStart)), cmd.echo);
  }

  finish(
    cmd: TrackedCommand,
    status: CommandResult["status"],
    completion: Completion,
    exitCode: number | null,
    output?: string | OutputDigest,
  ): void {
    if (cmd.result.status !== "running") return;
    // A marker output finished another way (cancel, prompt, a closed session) settles as one
    // finished by its marker: a long one keeps its digest, never read whole again and held.
    output ??= this.settle(cmd, this.stream.end, this.readTo);
    // A digest: the output is long and not held; its length is known.
    const text = output instanceof OutputDigest ? "" : (output ?? this.currentOutput(cmd));
    const chars = output instanceof OutputDigest ? output.length : text.length;
    cmd.result = {
      ...cmd.result,
      status,
      completion,
      exit_code: exitCode,
      output: text,
      completed_at: new Date().toISOString(),
    };
    cmd.releasePin?.();
    cmd.cleaned = cmd.cleanedTo = cmd.noBreakTo = undefined;
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
      output_chars: chars,
      ...(cmd.result.reason ? { reason: cmd.result.reason } : {}),
      ...(cmd.result.output_gap ? { output_gap: true } : {}),
    });
    this.notify();
  }
}

/**
 * Text after a typed line that ends on a new shell prompt, bare (not the line typed again): the
 * shell's known prompt, or one shaped like it: the same prompt character and a space (a progress
 * line such as `Progress: 20%` has no space after it).
 */
function freshPrompt(after: string, known: string | null): boolean {
  const cursor = (after.split("\n").pop() ?? "").replace(/\r+$/, "");
  if (!cursor.trim() || cursor.includes("__mcp_")) return false;
  return (known !== null && cursor.trimEnd() === known.trimEnd()) || sameShape(cursor, known);
}

/** A command's output from the raw text it spans: what the live path would have kept. */
export function outputOfText(text: string, cmd: Pick<TrackedCommand, "mode" | "nonce" | "echo">): string {
  if (cmd.mode === "raw") return dropEcho(cleanLong(text), cmd.echo);
  const b = findBegin(text, cmd.nonce);
  if (b === -1) return "";
  const e = findEnd(text, cmd.nonce, b);
  return cleanLong(text.slice(b, e ? e.outputEnd : undefined));
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
    // The line again, alone or after a prompt: not a line of output that mentions it.
    const t = line.trimEnd();
    const again = t === first || (t.endsWith(first) && /[$#%>] $/.test(t.slice(0, -first.length)));
    if (!again) return output.slice(nl + 1);
    nl = next;
  }
}
