import { randomBytes } from "node:crypto";
import type { Profile } from "../config/schema.js";
import type { TranscriptFollower } from "../transcript/reader.js";
import type { TranscriptWriter } from "../transcript/writer.js";
import { CommandCapture } from "./capture.js";
import { lastLines } from "./login.js";
import { capOutput, OutputDigest } from "./output/budget.js";
import { cleanOutput } from "./output/clean.js";
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
  readonly mode: "marker" | "raw";
  readonly nonce: string;
  /** Where its output is in the stream, what of it is held, where the rest is (capture.ts). */
  capture: CommandCapture;
  /** When the text went out (set by the caller once sent). */
  sentAt: number;
  /** Why a marked command did not start (completion "not_started"). */
  notStarted?: string;
  /** A probe of the shell it may have entered is under way / ended at this stream offset. */
  probing?: boolean;
  probedAt?: number;
  /** What a running command's screen waits for, when it settled on a question (screen.ts). */
  waiting?: { input_kind: InputKind; prompt: string };
  fallbackTimer?: NodeJS.Timeout;
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

  /** Calls `fn` on every output chunk or state change until the returned function is called. */
  watch(fn: () => void): () => void {
    this.waiters.add(fn);
    return () => this.waiters.delete(fn);
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
    const nonce = restore?.nonce ?? randomBytes(8).toString("hex");
    const from = this.follower?.lineStart ?? this.lineEnd ?? 0;
    const tracked: TrackedCommand = {
      mode,
      nonce,
      capture: new CommandCapture(this.stream, { mode, nonce, echo: restore?.echo }, this.holdChars, from),
      sentAt: Date.now(),
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

  /** Per chunk, for a running marker command: its marks, and its completion when the end mark came. */
  private scanMarkers(cmd: TrackedCommand): void {
    const e = cmd.capture.scan();
    if (!e) return;
    this.promptAt(e.markerEnd);
    // The span ends with the line holding the end marker (the follower is mid-read here).
    const output = cmd.capture.settleAt(e.outputEnd, this.lineEnd ?? Number.MAX_SAFE_INTEGER);
    this.finish(cmd, "completed", "marker", e.exitCode, output);
    this.learnPrompt();
  }

  /** Transcript offset of the first line not yet passed on (the end of a re-read of "so far"). */
  private get readTo(): number {
    return this.follower?.lineStart ?? this.lineEnd ?? Number.MAX_SAFE_INTEGER;
  }

  /** capOutput of a command's output, from what is held when the output is long. */
  cappedOutput(cmd: TrackedCommand, max: number): { output: string; truncated: boolean } {
    return cmd.capture.capHeld(max) ?? capOutput(this.currentOutput(cmd), max);
  }

  /**
   * Moves a command's start to the end of the stream (replay: its output comes next, from
   * transcript offset `from`).
   */
  restartAtEnd(cmd: TrackedCommand, from?: number): void {
    cmd.capture.restartAtEnd(from);
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
    const start = cmd.capture.streamStart;
    if (cmd.capture.awaitingBegin) {
      const since = cleanOutput(this.stream.slice(start));
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
    if (quietFor < this.idleMs || this.stream.end <= start) return;
    const tail = lastLines(cleanOutput(this.stream.slice(Math.max(start, this.stream.end - 2000))), 1);
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
    const cursor = cleanOutput(this.stream.slice(Math.max(start, this.stream.end - 400)))
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
    this.finish(cmd, "completed", completion, null, cmd.capture.settleAt(to, this.readTo));
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
    if (cmd.capture.state.kind === "finished_digest" && this.reread !== cmd) {
      const text = cmd.capture.readBack(this.transcriptPath);
      const preview = cmd.capture.preview;
      if (preview && text.length !== preview.length) {
        // The transcript is gone or cut short: what it gave, without forgetting the digest.
        return text;
      } else if (text.length <= 2 * this.holdChars) {
        cmd.result.output = text;
        cmd.capture.held();
      } else {
        // A long output is held whole for one command at a time (someone paging through it):
        // the one held before goes back to its span.
        if (this.reread) this.reread.result.output = "";
        cmd.result.output = text;
        this.reread = cmd;
      }
    }
    if (cmd.result.status !== "running") return cmd.result.output;
    return cmd.capture.soFar(this.transcriptPath, this.readTo);
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
    output ??= cmd.capture.settle(this.stream.end, this.readTo);
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
    cmd.capture.close();
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

/** Where it always was, for the tests that import it from here. */
export { dropEcho } from "./output/clean.js";
