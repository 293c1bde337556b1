/**
 * Recording health (docs/audit.md): no input goes into a session whose output is not being
 * recorded. The recorder (the tap, piped from the pane by tmux) writes its pid when it starts;
 * the server checks it with kill(pid, 0), with no process spawned, every second and before
 * each input. A lost recorder is replaced (pipe-pane again) and the transcript gets a `gap`
 * event: since when bytes may be missing, and the screen as tmux still shows it. A transcript
 * that cannot be written (disk full) makes the session refuse input until a write succeeds.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import { redactValues } from "../transcript/redact.js";
import { describe } from "../transcript/writer.js";
import { tapCommandLine } from "./pane-process.js";
import { sameShape } from "./screen.js";
import { declaresSecrets, masksPath, writeMasks } from "./secrets.js";
import { setTag, TAG, unsetTag } from "./tags.js";
import type { SessionHost } from "./host.js";
import type { Session } from "./session.js";

/**
 * The recorder's command line (tmux runs it with sh -c; `exec` makes its pid the recorder's). A
 * profile that declares secrets gets `--masks`: the path of the file its values are masked by
 * (secrets.ts writeMasks, written before the recorder starts), never a value.
 */
export function tapArgv(tapScript: string, profile: Profile, transcriptPath: string, id: string): string[] {
  return [
    process.execPath,
    // A 1 MB young generation: after a burst of output the tap keeps ~18 MB of private memory
    // instead of ~43 MB, at no cost in throughput (ssh-mcp bench, docs/performance.md).
    "--max-semi-space-size=1",
    tapScript,
    ...(profile.security.redact_transcripts ? ["--redact"] : []),
    ...(declaresSecrets(profile) ? ["--masks", masksPath(transcriptPath)] : []),
    transcriptPath,
    id,
  ];
}

/** How long a new recorder may take to name itself before it counts as lost (ms). */
const NAME_DEADLINE_MS = 5000;

/**
 * Whether the recorder is alive, as far as one syscall can tell. A recorder not yet named (just
 * piped) is trusted for NAME_DEADLINE_MS; one that never names itself is lost. A session whose
 * transcript has no recorder event at all (an older server's) is judged by #{pane_pipe} alone.
 */
export function recorderAlive(s: Session): boolean {
  if (s.recorderPid === null)
    return s.recorderPipedAt === null || Date.now() - s.recorderPipedAt < NAME_DEADLINE_MS;
  try {
    process.kill(s.recorderPid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether the pid is still our recorder (off the hot path: adoption, the health check). Where
 * /proc exists, its command line must name the session's transcript: a pid reused by another
 * process after a long downtime is not a recorder.
 */
export function recorderIdentified(s: Session): boolean {
  if (s.recorderPid === null || !existsSync("/proc/self")) return recorderAlive(s);
  try {
    return readFileSync(`/proc/${s.recorderPid}/cmdline`, "utf8").includes(s.transcriptPath);
  } catch {
    return false;
  }
}

/**
 * Whether the recorder masks what its profile needs: a profile that declares secrets needs one
 * started with `--masks` (one started for the profile before it declared them does not). Read
 * from /proc where it exists (off the hot path: adoption); assumed elsewhere.
 */
export function recorderMasks(s: Session): boolean {
  if (!declaresSecrets(s.profile) || s.recorderPid === null || !existsSync("/proc/self")) return true;
  try {
    return readFileSync(`/proc/${s.recorderPid}/cmdline`, "utf8").split("\0").includes("--masks");
  } catch {
    return true; // gone: recorderIdentified says so
  }
}

/**
 * Recording works: the transcript takes writes, the recorder lives, no gap waits to be written,
 * and no repair is under way (input waits for it: ensureRecording).
 */
export function recordingOk(s: Session): boolean {
  return (
    s.recordingError === null &&
    !s.writer.error &&
    s.pendingGap === null &&
    s.repairing === undefined &&
    recorderAlive(s)
  );
}

/** Why recording is not available, for list_sessions and refusals (null: it is). */
export function unavailableReason(s: Session): string | null {
  return s.recordingError ?? (s.writer.error ? `TRANSCRIPT_UNAVAILABLE: ${describe(s.writer.error)}` : null);
}

/** Turns a transcript that cannot be written into the session's state (and the log). */
export function watchWriter(host: SessionHost, s: Session): void {
  const onHealth = (err: Error | undefined): void => {
    if (err) {
      s.recordingError = `TRANSCRIPT_UNAVAILABLE: ${describe(err)}`;
      host.logger.error("transcript unavailable: input refused until it can be written", {
        session_id: s.id,
        path: s.transcriptPath,
        error: describe(err),
      });
      void setTag(host.tmux.pane(s.paneId), TAG.recording, s.recordingError).catch(() => undefined);
    }
    s.notify();
  };
  s.writer.onHealth = onHealth;
  // A write that failed before this watcher (adoption's first events) counts all the same.
  if (s.writer.error) onHealth(s.writer.error);
}

/**
 * Makes sure the session records before input goes in: repairs a lost recorder, and throws
 * TRANSCRIPT_UNAVAILABLE (nothing typed) when the transcript cannot be written.
 */
export async function ensureRecording(host: SessionHost, s: Session, piped = true): Promise<void> {
  if (s.status !== "open") return;
  if (s.repairing) await s.repairing;
  if (!piped || !recordingOk(s)) {
    const why =
      unavailableReason(s) ??
      (piped ? "the recorder process is gone" : "the pane is not piped to a recorder");
    await repairRecorder(host, s, why).catch((err: unknown) => {
      s.recordingError ??= `TRANSCRIPT_UNAVAILABLE: could not replace the recorder (${(err as Error).message})`;
    });
  }
  if (s.status !== "open") return;
  const unavailable =
    unavailableReason(s) ??
    (recordingOk(s) ? null : "TRANSCRIPT_UNAVAILABLE: the recorder could not be replaced");
  if (unavailable) {
    s.recordingError ??= unavailable;
    throw new SshMcpError(
      "TRANSCRIPT_UNAVAILABLE",
      `Session '${s.id}' cannot record (${unavailable}). Nothing was sent: no input goes in unrecorded. Free space or fix the runtime directory's permissions; recording resumes by itself within a second (docs/audit.md).`,
    );
  }
}

let checking = false;

/** The 1-second check: every open session whose recording failed is repaired or retried (backing off). */
export async function checkRecorders(host: SessionHost): Promise<void> {
  if (checking) return;
  checking = true;
  try {
    const due = host
      .all()
      .filter(
        (s) =>
          s.status === "open" && !recordingOk(s) && s.repairing === undefined && Date.now() >= s.nextRepairAt,
      );
    await Promise.all(
      due.map((s) =>
        repairRecorder(host, s, unavailableReason(s) ?? "the recorder process is gone").catch(
          (err: unknown) =>
            host.logger.warn("recorder repair failed", { session_id: s.id, error: (err as Error).message }),
        ),
      ),
    );
  } finally {
    checking = false;
  }
}

/**
 * Replaces a lost recorder and writes the gap. If the transcript cannot take the event, the
 * session stays unavailable and this is tried again on the next check.
 */
export function repairRecorder(host: SessionHost, s: Session, reason: string): Promise<void> {
  s.repairing ??= doRepair(host, s, reason).finally(() => {
    s.repairing = undefined;
  });
  return s.repairing;
}

async function doRepair(host: SessionHost, s: Session, reason: string): Promise<void> {
  const { logger } = host;
  const pane = host.tmux.pane(s.paneId);
  const startedAt = Date.now();
  // Any line the dead recorder left half-written is ended before the next event.
  s.writer.checkTail = true;
  s.follower?.drain();
  try {
    // One recorder_lost per outage: since when (the recorder's own last event), and why.
    if (!s.pendingGap) {
      const since = s.lastRecordedTs ?? s.createdAt;
      s.writer.write("event", { event: "recorder_lost", pid: s.recorderPid, since, reason });
      if (s.writer.error) return backOff(s);
      s.pendingGap = { since, reason, at: startedAt };
    } else {
      // Retrying: the transcript must take a write again before anything is spawned.
      s.writer.write("event", { event: "recorder_retry", reason });
      if (s.writer.error) return backOff(s);
    }
    const info = await pane.info();
    if (!info || info.dead) {
      s.pendingGap = null; // the pane is gone: the health check closes the session
      return;
    }
    // pipe-pane with no command stops the old pipe, if tmux still has one.
    await pane.pipe();
    s.recorderPid = null; // the new recorder's event names it (before it can arrive)
    s.recorderPipedAt = Date.now();
    writeMasks(s.transcriptPath, s.profile, host.env);
    const cmd = tapCommandLine(tapArgv(host.tapScript, s.profile, s.transcriptPath, s.id));
    await pane.pipe(cmd, { outputOnly: true });
    // The visible screen as it is now, and where the cursor sits on it.
    const visible = await pane.capture().catch(() => "");
    // Row by row as the cursor counts them (no -J: a long typed line wraps over two rows).
    const grid = await pane.capture({ join: false }).catch(() => "");
    const at = await pane.info();
    const shown = s.profile.security.redact_transcripts ? redactValues(visible) : visible;
    const { since } = s.pendingGap;
    s.writer.write("gap", {
      since,
      resumed: new Date().toISOString(),
      reason,
      screen: shown.replace(/\s+$/, ""),
    });
    if (s.writer.error) return backOff(s);
    s.pendingGap = null;
    settleThroughGap(s, grid, at, since, reason, startedAt);
    s.recordingError = null;
    s.repairFailures = 0;
    void unsetTag(pane, TAG.recording).catch(() => undefined);
    logger.warn("recorder replaced; the transcript has a gap", { session_id: s.id, since, reason });
  } finally {
    s.notify();
  }
}

/** After a failed try: the next one waits longer (1 s, 2 s, 4 s, ... 15 s). */
function backOff(s: Session): void {
  s.repairFailures++;
  s.nextRepairAt = Date.now() + Math.min(15_000, 1000 * 2 ** (s.repairFailures - 1));
}

/**
 * The command that ran through the gap: it ended in it only if the cursor now sits right after
 * a bare prompt of the known shell (a silent command's cursor is after the typed command on the
 * prompt's line, or on a new line). Otherwise it goes on: its end mark settles it.
 */
function settleThroughGap(
  s: Session,
  grid: string,
  at: { cursorX: number; cursorY: number; alternate: boolean } | undefined,
  since: string,
  reason: string,
  startedAt: number,
): void {
  const cmd = s.active;
  if (!cmd || cmd.sentAt > startedAt) return;
  cmd.result.output_gap = true;
  s.writer.write("event", { event: "output_gap", command_id: cmd.result.command_id, since });
  if (!at || at.alternate) return;
  // tmux drops a row's trailing blanks: the cursor's column gives back the space after a prompt.
  const row = grid.split("\n")[at.cursorY] ?? "";
  const cursorLine = row.padEnd(at.cursorX).slice(0, at.cursorX);
  if (row.length > at.cursorX && row.slice(at.cursorX).trim()) return;
  // The known prompt (an adopted session may not know it yet: then one shaped like a prompt).
  const bare = s.knownPrompt ? cursorLine.trimEnd() === s.knownPrompt.trimEnd() : sameShape(cursorLine, null);
  if (!bare) return;
  cmd.result.reason = `recording stopped at ${since} (${reason}) and the command ended before it resumed: its end and exit status were not recorded`;
  s.finish(cmd, "incomplete", "prompt", null);
}
