/**
 * Recording health (docs/audit.md): no input goes into a session whose output is not being
 * recorded. The recorder (the tap, piped from the pane by tmux) writes its pid when it starts;
 * the server checks it with kill(pid, 0), with no process spawned, every second and before
 * each input. A lost recorder is replaced (pipe-pane again) and the transcript gets a `gap`
 * event: since when bytes may be missing, and the screen as tmux still shows it. A transcript
 * that cannot be written (disk full) makes the session refuse input until a write succeeds.
 */
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import { redactValues } from "../transcript/redact.js";
import { describe } from "../transcript/writer.js";
import { tapCommandLine } from "./bridge.js";
import type { SessionManager } from "./manager.js";
import { classifyScreen } from "./screen.js";
import type { Session } from "./session.js";

/** The recorder's command line (tmux runs it with sh -c; `exec` makes its pid the recorder's). */
export function tapArgv(tapScript: string, profile: Profile, transcriptPath: string, id: string): string[] {
  return [
    process.execPath,
    // A 1 MB young generation: after a burst of output the tap keeps ~18 MB of private memory
    // instead of ~43 MB, at no cost in throughput (ssh-mcp bench, README performance).
    "--max-semi-space-size=1",
    tapScript,
    ...(profile.security.redact_transcripts ? ["--redact"] : []),
    transcriptPath,
    id,
  ];
}

/** Whether the recorder is alive, as far as one syscall can tell (unknown pid: trusted). */
export function recorderAlive(s: Session): boolean {
  if (s.recorderPid === null) return true;
  try {
    process.kill(s.recorderPid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Recording works: the transcript takes writes and the recorder lives. */
export function recordingOk(s: Session): boolean {
  return s.recordingError === null && recorderAlive(s);
}

/** Turns a transcript that cannot be written into the session's state (and the log). */
export function watchWriter(mgr: SessionManager, s: Session): void {
  s.writer.onHealth = (err) => {
    if (err) {
      s.recordingError = `TRANSCRIPT_UNAVAILABLE: ${describe(err)}`;
      mgr.deps.logger.error("transcript unavailable: input refused until it can be written", {
        session_id: s.id,
        path: s.transcriptPath,
        error: describe(err),
      });
      void mgr.deps.tmux
        .run(["set-option", "-w", "-t", s.paneId, "@ssh_mcp_recording", s.recordingError])
        .catch(() => undefined);
    }
    s.notify();
  };
}

/**
 * Makes sure the session records before input goes in: repairs a lost recorder, and throws
 * TRANSCRIPT_UNAVAILABLE (nothing typed) when the transcript cannot be written.
 */
export async function ensureRecording(mgr: SessionManager, s: Session): Promise<void> {
  if (s.status !== "open") return;
  if (s.repairing) await s.repairing;
  if (!recordingOk(s)) await repairRecorder(mgr, s, s.recordingError ?? "the recorder process is gone");
  if (s.recordingError) {
    throw new SshMcpError(
      "TRANSCRIPT_UNAVAILABLE",
      `Session '${s.id}' cannot record (${s.recordingError}). Nothing was sent: no input goes in unrecorded. Free space or fix the runtime directory's permissions; recording resumes by itself within a second (docs/audit.md).`,
    );
  }
}

/** The 1-second check: every open session whose recording failed is repaired or retried. */
export async function checkRecorders(mgr: SessionManager): Promise<void> {
  for (const s of mgr.sessions.values()) {
    if (s.status !== "open" || recordingOk(s)) continue;
    await repairRecorder(mgr, s, s.recordingError ?? "the recorder process is gone").catch((err: unknown) =>
      mgr.deps.logger.warn("recorder repair failed", { session_id: s.id, error: (err as Error).message }),
    );
  }
}

/**
 * Replaces a lost recorder and writes the gap. If the transcript cannot take the event, the
 * session stays unavailable and this is tried again on the next check.
 */
export function repairRecorder(mgr: SessionManager, s: Session, reason: string): Promise<void> {
  s.repairing ??= doRepair(mgr, s, reason).finally(() => {
    s.repairing = undefined;
  });
  return s.repairing;
}

async function doRepair(mgr: SessionManager, s: Session, reason: string): Promise<void> {
  const { tmux, logger } = mgr.deps;
  // What the old recorder wrote last is the start of the gap.
  s.follower?.drain();
  const since = s.lastEventTs ?? s.createdAt;
  const lostPid = s.recorderPid;
  const wasUnavailable = s.recordingError !== null;
  // The transcript must take events again before anything else (a retry while the disk is full).
  s.writer.checkTail = true;
  s.writer.write("event", { event: "recorder_lost", pid: lostPid, since, reason });
  if (s.writer.error) return;
  const info = await tmux.paneInfo(s.paneId);
  if (!info || info.dead) {
    s.recordingError = null; // the pane is gone: the health check closes the session
    return;
  }
  // pipe-pane with no command stops the old pipe, if tmux still has one.
  await tmux.run(["pipe-pane", "-t", s.paneId]);
  const cmd = tapCommandLine(tapArgv(mgr.deps.tapScript, s.profile, s.transcriptPath, s.id));
  await tmux.run(["pipe-pane", "-O", "-t", s.paneId, cmd]);
  s.recorderPid = null; // the new recorder's event names it
  const screen = await tmux.capture(s.paneId, {}).catch(() => "");
  const shown = s.profile.security.redact_transcripts ? redactValues(screen) : screen;
  s.writer.write("gap", {
    since,
    resumed: new Date().toISOString(),
    reason,
    screen: shown.replace(/\s+$/, ""),
  });
  if (s.writer.error) return; // the disk filled again: the next check tries again
  if (wasUnavailable)
    void tmux.run(["set-option", "-w", "-u", "-t", s.paneId, "@ssh_mcp_recording"]).catch(() => undefined);
  logger.warn("recorder replaced; the transcript has a gap", { session_id: s.id, since, reason });
  // A command that ran through the gap: ended meanwhile (back at a prompt), or still running.
  const cmd0 = s.active;
  if (cmd0) {
    const state = classifyScreen(screen.replace(/\s+$/, ""), {
      alternate: info.alternate,
      prompt: s.prompt,
      knownPrompt: s.knownPrompt,
    });
    cmd0.result.output_gap = true;
    if (state.kind === "prompt") {
      s.finish(cmd0, "incomplete", "prompt", null);
      cmd0.result.reason = `recording stopped at ${since} (${reason}) and the command ended before it resumed: its end and exit status were not recorded`;
      s.writer.write("command_complete", {
        command_id: cmd0.result.command_id,
        status: "incomplete",
        exit_code: null,
        completion: "prompt",
        reason: cmd0.result.reason,
      });
    }
  }
  // Input goes in again only now: the gap is written and a command that ended in it is settled.
  s.recordingError = null;
  s.notify();
}
