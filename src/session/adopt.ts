import { readFileSync, statSync } from "node:fs";
import { profileSchema, type Profile } from "../config/schema.js";
import { chain, commandString, formatEq, formatVar, type TmuxCommand } from "../tmux/command.js";
import { eachLine, isRecvLine, tailEvents, TranscriptFollower } from "../transcript/reader.js";
import { TranscriptWriter, type TranscriptEvent } from "../transcript/writer.js";
import type { ShellState } from "./shells.js";
import type { SessionHost } from "./host.js";
import { watchNestedShells } from "./operations.js";
import { recorderIdentified, recorderMasks, repairRecorder, watchWriter } from "./recorder.js";
import { declaresSecrets, writeMasks } from "./secrets.js";
import { Session, type TrackedCommand } from "./session.js";
import {
  ownerTags,
  SESSION_META,
  TAG_FORMAT,
  tagCommands,
  type SessionMetaTags,
  type TaggedPane,
} from "./tags.js";
import type { CommandResult, Completion } from "./types.js";

/**
 * Surviving restarts (docs/architecture.md: "Restarts, several servers, humans"). Every ssh-mcp pane carries its metadata in window
 * options, so a new server finds them with one `list-panes`. A pane whose owning server is gone
 * is adopted: same session id, same transcript, and the transcript is replayed through the same
 * code that tracks live output, which rebuilds the command ledger (a command started before the
 * restart completes from the output the tap kept recording while no server ran). Panes of a
 * live server are listed, and driven only with `force`.
 */

/** What discovery lists of every pane besides its tags: the session's metadata, then its tmux name. */
export const DISCOVERY_FIELDS = [...SESSION_META.formats, formatVar("session_name")];

export interface PaneRow extends SessionMetaTags {
  info: TaggedPane;
  tmuxName: string;
}

export async function discover(host: SessionHost): Promise<PaneRow[]> {
  const rows = await host.tmux.listPanes(DISCOVERY_FIELDS);
  const names = SESSION_META.formats.length;
  return rows
    .filter((r) => r.info.sessionId)
    .map(({ info, extra }) => ({
      info,
      ...SESSION_META.parse(extra.slice(0, names)),
      tmuxName: extra[names] ?? info.sessionId,
    }));
}

/** Is the server process that owns a pane still running? */
export function serverAlive(pid: number): boolean {
  if (!pid) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // A recycled pid belongs to some other program: check it is a node process when we can.
  try {
    return /node|ssh-mcp|cli\.js/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return true;
  }
}

function firstEvent(path: string): TranscriptEvent | undefined {
  try {
    const head = readFileSync(path, { encoding: "utf8", flag: "r" }).slice(0, 64 * 1024);
    return JSON.parse(head.slice(0, head.indexOf("\n"))) as TranscriptEvent;
  } catch {
    return undefined;
  }
}

/** The profile a pane was opened with, or a stub from its transcript if the profile is gone. */
function profileFor(host: SessionHost, row: PaneRow): Profile {
  const known = host.config.profiles[row.profile];
  if (known) return known;
  const meta = firstEvent(row.transcript);
  const stub = profileSchema.parse({
    host: typeof meta?.host === "string" ? meta.host : "unknown",
    port: typeof meta?.port === "number" ? meta.port : 22,
    ...(typeof meta?.username === "string" ? { username: meta.username } : {}),
  });
  return { ...stub, host: stub.host ?? "unknown", name: row.profile || "unknown", keepalive_interval: 30 };
}

/**
 * Takes over panes: rebuilds each session from its transcript, then marks the windows as ours
 * (one tmux invocation for all of them) and records an `adopted` event.
 */
export async function adopt(host: SessionHost, rows: PaneRow[], forced = false): Promise<Session[]> {
  const wanted = rows.filter((r) => !host.known(r.info.sessionId));
  if (!wanted.length) return [];
  const won = await claim(host, wanted);
  const adopted = won.map((row) => {
    const s = rebuild(host, row);
    host.register(s);
    watchNestedShells(host, s);
    return { s, row };
  });
  for (const { s, row } of adopted) await takeOver(host, s, row, forced);
  if (adopted.length) host.startHealthMonitor();
  return adopted.map(({ s }) => s);
}

/**
 * Claims the windows, atomically in the tmux server: a window changes owner only if it still
 * names the owner we saw, so two servers adopting the same orphan at once cannot both win.
 * Returns the rows whose windows are ours now.
 */
async function claim(host: SessionHost, wanted: PaneRow[]): Promise<PaneRow[]> {
  const claims: TmuxCommand[] = wanted.map((r): TmuxCommand => [
    "if-shell",
    "-F",
    "-t",
    r.info.paneId,
    formatEq(TAG_FORMAT.serverInstanceId, r.info.ownerInstance),
    commandString(tagCommands(r.info.paneId, ownerTags(host.instanceId, process.pid))),
  ]);
  // In batches: one tmux message holds about 16 kB, and a hundred claims do not fit in one.
  let batch: TmuxCommand[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    try {
      await host.tmux.run(chain(...batch));
    } catch (err) {
      host.logger.warn("could not claim windows", { error: (err as Error).message });
    }
    batch = [];
    size = 0;
  };
  for (const c of claims) {
    const len = c.reduce((n, x) => n + Buffer.byteLength(x) + 1, 0);
    if (size + len > 12_000) await flush();
    batch.push(c);
    size += len;
  }
  await flush();
  const owners = new Map((await host.tmux.listPanes()).map((p) => [p.info.paneId, p.info.ownerInstance]));
  return wanted.filter((r) => owners.get(r.info.paneId) === host.instanceId);
}

/** A session rebuilt from its pane's row and transcript, following the transcript from its end. */
function rebuild(host: SessionHost, row: PaneRow): Session {
  const s = new Session({
    id: row.info.sessionId,
    profile: profileFor(host, row),
    ownerLabel: row.ownerLabel || null,
    createdAt: row.createdAt || new Date().toISOString(),
    paneId: row.info.paneId,
    tmuxName: row.tmuxName,
    transcriptPath: row.transcript,
    writer: new TranscriptWriter(row.transcript, row.info.sessionId),
    idleMs: host.config.timing.idleMs,
    resultOutputChars: host.config.resultOutputChars,
  });
  s.adoptedFrom = row.info.ownerInstance || null;
  const replay: Replay = { finishedWithoutEvent: new Set(), startsAt: new Map() };
  const end = replayTranscript(s, row.transcript, replay);
  // Where a gap would start: the last event the recorder wrote (before this server writes).
  const tail = tailEvents(row.transcript, 2000);
  s.lastRecordedTs =
    tail.filter((e) => e.dir === "recv" || (e.dir === "event" && e.event === "recorder")).pop()?.ts ??
    tail[tail.length - 1]?.ts ??
    null;
  s.follower = new TranscriptFollower(row.transcript, (ev, at) => applyEvent(s, ev, replay, undefined, at), {
    fromOffset: end,
  });
  recordFinishedWhileAway(s, replay);
  if (s.active) s.startFallbacks(s.active);
  return s;
}

/** Commands the tap saw finish while no server ran: their completion is recorded now. */
function recordFinishedWhileAway(s: Session, replay: Replay): void {
  for (const id of replay.finishedWithoutEvent) {
    const cmd = s.commands.get(id);
    const c = cmd?.result;
    if (c) {
      s.writer.write("command_complete", {
        command_id: id,
        status: c.status,
        exit_code: c.exit_code,
        completion: c.completion,
        // A long output is held as a digest: its length is the digest's.
        output_chars: cmd?.capture.preview?.length ?? c.output.length,
        while_no_server: true,
      });
    }
  }
}

/** An adopted session's first steps as ours: recorded, its status and recorder brought up to date. */
async function takeOver(host: SessionHost, s: Session, row: PaneRow, forced: boolean): Promise<void> {
  if (!row.info.dead) {
    s.writer.write("event", {
      event: "adopted",
      previous_server_instance_id: s.adoptedFrom,
      server_instance_id: host.instanceId,
      ...(forced ? { forced: true } : {}),
    });
  }
  host.logger.info("session adopted", { session_id: s.id, from: s.adoptedFrom, forced });
  host.applyPaneState(s, row.info);
  watchWriter(host, s);
  // This server's values of the profile's secrets, for the recorder to mask by (it re-reads them).
  if (s.status === "open" && declaresSecrets(s.profile)) {
    try {
      writeMasks(s.transcriptPath, s.profile, host.env);
    } catch (err) {
      host.logger.warn("masks file not written", { session_id: s.id, error: (err as Error).message });
    }
  }
  // A pane whose recorder died while no server ran is piped again, with a gap (docs/audit.md);
  // so is one whose recorder was started before the profile declared secrets (it cannot mask them).
  const masks = recorderMasks(s);
  if (s.status === "open" && (!row.info.piped || !recorderIdentified(s) || !masks)) {
    await repairRecorder(
      host,
      s,
      !row.info.piped
        ? "the pane is not piped to a recorder"
        : masks
          ? "the recorder process is gone"
          : "the recorder does not mask the profile's secrets (they were declared after it started)",
    ).catch((err: unknown) =>
      host.logger.warn("recorder repair failed", { session_id: s.id, error: (err as Error).message }),
    );
  }
  // A session that is over keeps no watcher, timer or descriptor.
  if (s.status !== "open") host.releaseResources(s);
}

interface Replay {
  finishedWithoutEvent: Set<string>;
  /** Byte offset after each command's command_start line. */
  startsAt: Map<string, number>;
}

/** Output fed to a replayed session when no command runs: enough for screens and prompt checks. */
const REPLAY_TAIL = 512 * 1024;

function parseEvent(line: Buffer): TranscriptEvent | undefined {
  try {
    return JSON.parse(line.toString("utf8")) as TranscriptEvent;
  } catch {
    return undefined;
  }
}

/**
 * Rebuilds a session from its transcript in two passes, so adoption takes the same short time
 * however much output a session has made (a hundred sessions in a second).
 * Pass 1 parses only the control events (output lines are told apart without a parse): they
 * rebuild the ledger, and a finished command keeps only the byte span of its output, read on
 * first use (CommandCapture, finished_digest). Pass 2 feeds output through the live code path: from the
 * start of the command still running at the end (the tap may have seen it finish while no
 * server ran), and the last 512 kB before that for screens and prompt checks. Returns the offset
 * live following starts from.
 */
function replayTranscript(s: Session, path: string, replay: Replay): number {
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    // no transcript: nothing to replay
  }
  let tailFrom: number | undefined;
  s.replaying = true;
  const end = eachLine(path, 0, undefined, (line, start, lineEnd) => {
    if (isRecvLine(line)) {
      if (tailFrom === undefined && start >= size - REPLAY_TAIL) tailFrom = start;
      return;
    }
    const ev = parseEvent(line);
    if (!ev) return;
    if (ev.dir === "command_start" && typeof ev.command_id === "string")
      replay.startsAt.set(ev.command_id, lineEnd);
    applyEvent(s, ev, replay, start);
  });
  const feed = (from: number, to: number): void => {
    eachLine(path, from, to, (line, _start, lineEnd) => {
      if (!isRecvLine(line)) return;
      const ev = parseEvent(line);
      if (ev) applyEvent(s, ev, replay, undefined, lineEnd);
    });
  };
  const running = s.active;
  const runFrom = running ? replay.startsAt.get(running.result.command_id) : undefined;
  const from = Math.min(tailFrom ?? end, runFrom ?? end);
  if (running && runFrom !== undefined) {
    feed(from, runFrom);
    s.restartAtEnd(running, runFrom);
    feed(runFrom, end);
  } else feed(from, end);
  s.replaying = false;
  return end;
}

/**
 * One transcript event, live or replayed: replay rebuilds commands and state. `lineStart`: the
 * event's byte offset, in pass 1 of a replay; `lineEnd`: the offset just past its line.
 */
function applyEvent(
  s: Session,
  ev: TranscriptEvent,
  replay: Replay,
  lineStart?: number,
  lineEnd?: number,
): void {
  if (ev.dir === "event" && ev.event === "recorder" && typeof ev.pid === "number") {
    s.recorderPid = ev.pid;
    s.recorderPipedAt = null;
    s.lastRecordedTs = ev.ts;
  }
  if (ev.dir === "recv") return applyOutput(s, ev, replay, lineEnd);
  if (s.replaying) replayControl(s, ev, replay, lineStart);
}

/** Output, live or replayed; a replayed command it finished is noted as finished while no server ran. */
function applyOutput(s: Session, ev: TranscriptEvent, replay: Replay, lineEnd?: number): void {
  s.lastRecordedTs = ev.ts;
  const running = s.replaying ? s.active : undefined;
  if (typeof ev.text === "string") s.onRecv(ev.text, lineEnd);
  if (running && running.result.status !== "running") {
    running.result = { ...running.result, completed_at: ev.ts };
    replay.finishedWithoutEvent.add(running.result.command_id);
  }
}

/** A control event of a replayed transcript: the command ledger, input, health, shell. */
function replayControl(s: Session, ev: TranscriptEvent, replay: Replay, lineStart?: number): void {
  const id = typeof ev.command_id === "string" ? ev.command_id : undefined;
  const cmd = id ? s.commands.get(id) : undefined;
  switch (ev.dir) {
    case "command_start":
      if (id && typeof ev.command === "string" && typeof ev.nonce === "string") {
        const mode = ev.mode === "raw" ? "raw" : "marker";
        const c = s.newCommand(ev.command, mode, {
          id,
          nonce: ev.nonce,
          startedAt: ev.ts,
          ...(mode === "raw" ? { echo: ev.command } : {}),
        });
        if (typeof ev.shell === "string") c.result.shell = ev.shell;
      }
      break;
    case "command_complete":
    case "command_cancel":
      if (id) replay.finishedWithoutEvent.delete(id);
      if (cmd) replayFinish(s, cmd, ev, replay, lineStart);
      break;
    case "send":
      // Input other than a marked command may have changed what listens (see Session.inputGen).
      if (ev.tool !== "execute_command" && ev.tool !== "search_logs" && ev.tool !== "probe")
        s.otherInput("typed", typeof ev.text === "string" && !ev.sensitive ? ev.text : undefined);
      break;
    case "command_timeout":
      if (cmd) cmd.result = { ...cmd.result, timed_out: true };
      break;
    case "session_health":
      if (ev.health_status === "open" || ev.health_status === "unhealthy" || ev.health_status === "closed") {
        s.status = ev.health_status;
        s.healthError = typeof ev.health_error === "string" ? ev.health_error : null;
      }
      break;
    case "event":
      replayEvent(s, ev, cmd);
      break;
  }
}

/** A replayed command_complete/command_cancel: the command finishes as recorded, its output a span. */
function replayFinish(
  s: Session,
  cmd: TrackedCommand,
  ev: TranscriptEvent,
  replay: Replay,
  lineStart?: number,
): void {
  if (cmd.result.status === "running") {
    s.finish(
      cmd,
      (ev.status as CommandResult["status"]) ?? "completed",
      (ev.completion as Completion) ?? "marker",
      typeof ev.exit_code === "number" ? ev.exit_code : null,
      "",
    );
    if (typeof ev.reason === "string") cmd.result.reason = ev.reason;
    const from = replay.startsAt.get(cmd.result.command_id);
    if (from !== undefined && lineStart !== undefined) cmd.capture.onTranscript(from, lineStart);
  }
  cmd.result = { ...cmd.result, completed_at: ev.ts };
}

/** A replayed `event`: an output gap, the session it was reopened from, the shell a probe found. */
function replayEvent(s: Session, ev: TranscriptEvent, cmd: TrackedCommand | undefined): void {
  if (ev.event === "output_gap" && cmd) cmd.result.output_gap = true;
  if (ev.event === "reopened_from" && typeof ev.previous_session_id === "string") {
    s.previousSessionId = ev.previous_session_id;
  }
  // The shell keeps its helpers across our restart: a probe's outcome still holds (a shell
  // changed meanwhile shows as NOT_STARTED on the next command, which probes again).
  if (ev.event === "shell" && typeof ev.family === "string") {
    const known = ev.family === "posix" || ev.family === "fish" || ev.family === "csh";
    const name = typeof ev.name === "string" ? ev.name : null;
    s.shell = {
      family: known || ev.family === "other" ? (ev.family as ShellState["family"]) : "unknown",
      name,
      ready: known && name !== null,
    };
    if (cmd) cmd.result = { ...cmd.result, shell: name ?? ev.family };
  }
}
