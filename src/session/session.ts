import { randomBytes } from "node:crypto";
import type { Profile } from "../config/schema.js";
import type { TranscriptFollower } from "../transcript/reader.js";
import type { TranscriptWriter } from "../transcript/writer.js";
import { cleanOutput, findBegin, findEnd, MARKER_OVERLAP } from "./output.js";
import { OutputStream } from "./stream.js";
import type { CommandResult, Completion, SessionStatus } from "./types.js";

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
  /** Echo of the typed text to drop from the front of raw-mode output. */
  echo?: string;
  releasePin?: () => void;
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
}

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

  newCommand(command: string, mode: "marker" | "raw"): TrackedCommand {
    this.commandSeq++;
    const id = `cmd-${this.commandSeq.toString().padStart(4, "0")}-${randomBytes(3).toString("hex")}`;
    const start = this.stream.end;
    const tracked: TrackedCommand = {
      mode,
      nonce: randomBytes(8).toString("hex"),
      streamStart: start,
      scanFrom: start,
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
        started_at: new Date().toISOString(),
        completed_at: null,
      },
    };
    this.commands.set(id, tracked);
    this.active = tracked;
    // Keep the ledger bounded: finished commands beyond the newest 200 are forgotten in memory
    // (their output stays in the transcript).
    if (this.commands.size > 200) {
      for (const [cid, c] of this.commands) {
        if (this.commands.size <= 200) break;
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
    }
    const from = Math.max(cmd.outStart, cmd.scanFrom - MARKER_OVERLAP);
    const hay = this.stream.slice(from);
    const e = findEnd(hay, cmd.nonce);
    if (!e) {
      cmd.scanFrom = this.stream.end;
      return;
    }
    const raw = this.stream.slice(cmd.outStart, from + e.outputEnd);
    this.finish(cmd, "completed", "marker", e.exitCode, cleanOutput(raw));
  }

  /** Output so far of a command, cleaned (the whole output once it is finished). */
  currentOutput(cmd: TrackedCommand): string {
    if (cmd.result.status !== "running") return cmd.result.output;
    if (cmd.mode === "marker") {
      if (cmd.outStart === undefined) return "";
      return cleanOutput(this.stream.slice(cmd.outStart));
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
    if (this.active === cmd) this.active = undefined;
    this.stream.trim();
    const event =
      status === "completed"
        ? "command_complete"
        : status === "cancelled"
          ? "command_cancel"
          : "command_complete";
    this.writer.write(event, {
      command_id: cmd.result.command_id,
      status,
      exit_code: exitCode,
      completion,
      output_chars: text.length,
    });
    this.notify();
  }
}

/** Drops the echoed input line from the front of raw-mode output. */
export function dropEcho(output: string, echo: string | undefined): string {
  if (!echo) return output;
  const nl = output.indexOf("\n");
  const firstLine = nl === -1 ? output : output.slice(0, nl);
  if (firstLine.includes(echo.split("\n")[0] ?? echo)) return nl === -1 ? "" : output.slice(nl + 1);
  return output;
}
