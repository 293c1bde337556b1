import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AskpassServer } from "../ssh/askpass-server.js";
import { formatAnd, formatEq, formatVar, type TmuxCommand } from "../tmux/command.js";
import { bridgeExit } from "./bridge.js";
import { isTransportLoss, lastLines } from "./login.js";
import { openSession } from "./open.js";
import { cleanOutput } from "./output.js";
import { adopt, discover, serverAlive, type PaneRow } from "./adopt.js";
import { activeLock } from "./locks.js";
import {
  checkRecorders,
  ensureRecording,
  recorderIdentified,
  recordingOk,
  repairRecorder,
  unavailableReason,
} from "./recorder.js";
import type { Session } from "./session.js";
import { TAG_FORMAT, type TaggedPane } from "./tags.js";
import type { SessionTmux } from "./tmux.js";
import type { SessionInfo } from "./types.js";

/**
 * Opens, tracks and closes sessions. Each SSH session is its own tmux session (one window, one
 * pane) named after the session id, so `tmux attach -t <id>` lands a human on exactly that
 * terminal and two humans watching two sessions never switch each other's windows. The pane
 * is created, tagged, and piped to the tap in a single tmux invocation, so not one byte of
 * output (not even an immediate connection error) can escape the transcript.
 */
export interface ManagerDeps {
  config: Config;
  logger: Logger;
  tmux: SessionTmux;
  instanceId: string;
  transcriptsDir: string;
  tapScript: string;
  askpass: AskpassServer;
  env: NodeJS.ProcessEnv;
  /** The viewer URL of a session (or of the index), with the token unless bare; null when off. */
  viewerUrl: (sessionId?: string, bare?: boolean) => string | null;
}

export class SessionManager {
  readonly sessions = new Map<string, Session>();
  private healthTimer: NodeJS.Timeout | undefined;
  private recorderTimer: NodeJS.Timeout | undefined;
  /** sendChecked's condition (built once: the instance id never changes). */
  private sendCondition: string | undefined;

  constructor(readonly deps: ManagerDeps) {}

  get config(): Config {
    return this.deps.config;
  }

  startHealthMonitor(): void {
    if (this.healthTimer) return;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.config.timing.healthIntervalMs);
    this.healthTimer.unref();
    // Recorders: one kill(pid, 0) per session, no process spawned (docs/audit.md).
    this.recorderTimer = setInterval(
      () => void checkRecorders(this),
      Math.min(1000, this.config.timing.healthIntervalMs),
    );
    this.recorderTimer.unref();
  }

  profile(name: string): Profile {
    const p = this.config.profiles[name];
    if (!p) {
      const names = Object.keys(this.config.profiles);
      throw new SshMcpError(
        "UNKNOWN_PROFILE",
        `Unknown profile '${name}'. ${names.length ? `Available: ${names.join(", ")}.` : `No profiles are configured`} ` +
          `Profiles come from ${this.config.configPath}${this.config.configFound ? "" : " (not found)"}.`,
      );
    }
    return p;
  }

  get(sessionId: string): Session {
    const s = this.sessions.get(sessionId);
    if (!s) {
      throw new SshMcpError(
        "UNKNOWN_SESSION",
        `Unknown session_id '${sessionId}'. Call list_sessions to see open sessions, or open_session to start one.`,
      );
    }
    return s;
  }

  /**
   * A session that can take input now: ours (or taken over with `force`), open (checked against
   * tmux), and not locked by another actor.
   */
  async usable(sessionId: string, opts: { force?: boolean; actor?: string } = {}): Promise<Session> {
    await this.ready;
    const s = await this.resolve(sessionId, opts.force ?? false);
    const info = s.status === "open" ? await this.deps.tmux.paneInfo(s.paneId) : undefined;
    if (info && info.ownerInstance && info.ownerInstance !== this.deps.instanceId) {
      // Taken over by another server: not ours any more. Let go of it, then ask again (which
      // adopts it back if that server is gone, or refuses without force).
      this.release(s);
      if (!opts.force && serverAlive(info.ownerPid)) {
        throw new SshMcpError(
          "SESSION_OWNED_ELSEWHERE",
          `Session '${s.id}' was taken over by server ${info.ownerInstance}. Nothing was sent. Pass force: true to take it back (recorded in the transcript).`,
        );
      }
      return this.usable(sessionId, opts);
    }
    if (s.status === "open") this.applyPaneState(s, await this.deadSettled(s, info));
    if (s.status === "closed") {
      throw new SshMcpError(
        "SESSION_CLOSED",
        `Session '${s.id}' is closed${s.healthError ? ` (${s.healthError})` : ""}. Nothing was sent. Its transcript is kept at ${s.transcriptPath}. Call reopen_session to log in again with the same profile and route.`,
      );
    }
    if (s.status === "unhealthy") {
      throw new SshMcpError(
        "SESSION_UNHEALTHY",
        `Session '${s.id}' lost its SSH transport (${s.healthError ?? "unknown"}). Nothing was sent. Call reopen_session to log in again (the remote shell state, e.g. a pod shell, is not restored automatically).`,
      );
    }
    // No input without a recorder: a lost one is replaced first, an unwritable transcript refuses.
    await ensureRecording(this, s, info?.piped ?? true);
    // The next input may take the fast path only while the window looks exactly like this.
    s.fastInput = info?.ownerInstance === this.deps.instanceId && !info.lock && !info.dead;
    const lock = activeLock(info?.lock);
    const actor = opts.actor ?? "agent";
    if (lock && lock.actor !== actor) {
      if (!opts.force) {
        throw new SshMcpError(
          "INPUT_LOCKED",
          `Session '${s.id}' is locked for input by ${lock.actor} until ${lock.expires_at}. Nothing was sent. Wait, ask them to release it, or call acquire_input_lock with force: true.`,
        );
      }
      if (s.profile.security.mode === "readonly") {
        const rule = `readonly: typing past the input lock of ${lock.actor} with force`;
        s.writer.write("security_block", { tool: "input", actor, rule, mode: "readonly" });
        throw new SshMcpError(
          "POLICY_BLOCKED",
          `Refused by profile '${s.profile.name}' security policy (${rule}). Nothing was sent. Wait until ${lock.actor} releases the lock or it expires (${lock.expires_at}).`,
          { rule },
        );
      }
      s.writer.write("lock", { action: "override", actor, lock_actor: lock.actor, forced: true });
    }
    return s;
  }

  /**
   * The hot path of execute_command and send_text: a session of ours whose last
   * full check found its window ours, alive and without any input lock skips the separate check
   * (a tmux process of its own); `sendChecked` repeats that check inside the tmux server, in the
   * same step as the send. Undefined: take the full way through `usable`.
   */
  async fastUsable(sessionId: string, opts: { force?: boolean } = {}): Promise<Session | undefined> {
    await this.ready;
    const s = this.sessions.get(sessionId);
    return s && s.status === "open" && s.fastInput && !opts.force && recordingOk(s) ? s : undefined;
  }

  /**
   * Runs `commands` (which must fit one tmux message) if the window is still ours, alive and
   * unlocked. False: nothing ran, and the next input goes the full way.
   */
  async sendChecked(s: Session, commands: TmuxCommand[], also?: string): Promise<boolean> {
    // Ours, alive, unlocked, and piped to its recorder.
    this.sendCondition ??= formatAnd(
      formatEq(TAG_FORMAT.serverInstanceId, this.deps.instanceId),
      formatEq(formatVar("pane_dead"), "0"),
      formatEq(TAG_FORMAT.lock, ""),
      formatEq(formatVar("pane_pipe"), "1"),
    );
    const cond = also ? formatAnd(this.sendCondition, also) : this.sendCondition;
    const sent = await this.deps.tmux.runIf(s.paneId, cond, commands);
    if (!sent) s.fastInput = false;
    return sent;
  }

  /** Our session, or one found in tmux: adopted if its server is gone, taken over with force. */
  async resolve(sessionId: string, force: boolean): Promise<Session> {
    const mine = this.sessions.get(sessionId);
    if (mine) return mine;
    const row = (await discover(this)).find((r) => r.info.sessionId === sessionId);
    if (!row) return this.get(sessionId);
    const alive = row.info.ownerInstance !== this.deps.instanceId && serverAlive(row.info.ownerPid);
    if (alive && !force) {
      throw new SshMcpError(
        "SESSION_OWNED_ELSEWHERE",
        `Session '${sessionId}' belongs to another live ssh-mcp server (${row.info.ownerInstance}, pid ${row.info.ownerPid}). Nothing was sent. Pass force: true to take it over (recorded in the transcript), or use that server.`,
      );
    }
    const [s] = await adopt(this, [row], alive);
    return s ?? this.get(sessionId);
  }

  /** Forgets a session that another server now owns, releasing what we held for it. */
  release(s: Session): void {
    this.sessions.delete(s.id);
    this.releaseResources(s);
    this.deps.logger.info("session released to another server", { session_id: s.id });
  }

  releaseResources(s: Session): void {
    if (s.active?.fallbackTimer) clearInterval(s.active.fallbackTimer);
    s.follower?.close();
    s.writer.close();
  }

  /**
   * list_sessions: adopts orphans, checks health, and lists other servers' sessions from one
   * look at tmux (a second one only after an adoption changed owners).
   */
  async listAll(): Promise<SessionInfo[]> {
    await this.ready;
    let rows = await discover(this);
    if ((await this.adoptOrphans(rows)).length) rows = await discover(this);
    await this.checkHealth(rows);
    return [...[...this.sessions.values()].map((s) => this.info(s)), ...(await this.foreign(rows))];
  }

  /** Adopts every pane whose server is gone (at start, and whenever sessions are listed). */
  async adoptOrphans(seen?: PaneRow[]): Promise<Session[]> {
    const rows = seen ?? (await discover(this));
    const orphans = rows.filter(
      (r) =>
        !this.sessions.has(r.info.sessionId) &&
        r.info.ownerInstance !== this.deps.instanceId &&
        !serverAlive(r.info.ownerPid),
    );
    return adopt(this, orphans);
  }

  /** A session to read from (screens, transcripts, commands): ours, or an orphan we adopt. */
  async readable(sessionId: string): Promise<Session> {
    await this.ready;
    return this.sessions.get(sessionId) ?? this.resolve(sessionId, false);
  }

  /**
   * reopen_session: a new login with the same profile and owner label (and so the same route),
   * linked both ways to the old session. Never automatic. An old session still open is closed.
   */
  async reopen(sessionId: string, force = false): Promise<{ session: Session; previous: Session }> {
    await this.ready;
    const old = await this.resolve(sessionId, force);
    // Log in first: if that fails, the old session is left as it was.
    const next = await openSession(this, old.profile.name, old.ownerLabel, old.id);
    if (old.status === "open") await this.close(old.id, force);
    old.writer.reopenForAppend();
    old.writer.write("event", { event: "reopened_as", session_id_new: next.id });
    old.writer.close();
    return { session: next, previous: old };
  }

  /** The tmux row of a session this server does not hold (for read-only tools). */
  async foreignRow(sessionId: string) {
    return (await discover(this)).find((r) => r.info.sessionId === sessionId);
  }

  /** Resolves once start-up adoption is done; tools wait for it. */
  ready: Promise<void> = Promise.resolve();

  /** Sessions of other live servers, as SessionInfo (listed, not driven). */
  async foreign(seen?: PaneRow[]): Promise<SessionInfo[]> {
    const rows = seen ?? (await discover(this));
    return rows
      .filter((r) => !this.sessions.has(r.info.sessionId) && r.info.ownerInstance !== this.deps.instanceId)
      .map((r) => ({
        session_id: r.info.sessionId,
        profile: r.profile,
        host: this.config.profiles[r.profile]?.host ?? "",
        port: this.config.profiles[r.profile]?.port ?? 0,
        username: this.config.profiles[r.profile]?.username ?? null,
        owner_label: r.ownerLabel || null,
        client_label: "",
        server_instance_id: r.info.ownerInstance,
        status: r.info.dead ? "closed" : "open",
        health_error: null,
        created_at: r.createdAt,
        last_activity_at: r.createdAt,
        transcript_path: r.transcript,
        viewer_url: null,
        tmux_target: `${r.tmuxName}:0.0`,
        attach_command: attachCommand(this.deps.tmux.socket, r.tmuxName),
        bridge: this.config.profiles[r.profile]?.bridge ?? "native",
        active_command_id: null,
        shell: null,
        attached_clients: r.info.attachedClients,
        owned_by_this_server: false,
        previous_session_id: null,
        input_lock: activeLock(r.info.lock) ?? null,
        recording: null,
      }));
  }

  open(profileName: string, ownerLabel: string | null): Promise<Session> {
    return openSession(this, profileName, ownerLabel);
  }

  /** Re-reads one session's pane state from tmux. */
  async refresh(session: Session): Promise<void> {
    if (session.status === "closed") return;
    this.applyPaneState(
      session,
      await this.deadSettled(session, await this.deps.tmux.paneInfo(session.paneId)),
    );
  }

  /**
   * A pane can be seen dead a moment before the tap has delivered the bridge's last words (and
   * its exit status line); wait briefly for them so the close reason is exact.
   */
  async deadSettled(session: Session, info: TaggedPane | undefined): Promise<TaggedPane | undefined> {
    const deadline = Date.now() + 1000;
    while (info?.dead && Date.now() < deadline) {
      session.follower?.drain();
      const tail = cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 4096)));
      if (bridgeExit(tail, info.deadStatus).status !== null) break;
      await new Promise((r) => setTimeout(r, 25));
      info = await this.deps.tmux.paneInfo(session.paneId);
    }
    return info;
  }

  applyPaneState(
    session: Session,
    info: { dead: boolean; deadStatus: number | null; attachedClients: number } | undefined,
  ): void {
    if (info) session.attachedClients = info.attachedClients;
    if (info && !info.dead) return;
    session.follower?.drain();
    const { status, text } = bridgeExit(
      cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 4096))),
      info?.deadStatus ?? null,
    );
    const next = info && isTransportLoss(text, status) ? "unhealthy" : "closed";
    const reason = !info
      ? "the tmux window is gone"
      : `the SSH bridge exited with status ${status ?? "unknown"}${lastLines(text, 1) ? `: ${lastLines(text, 1)}` : ""}`;
    this.setStatus(session, next, reason);
  }

  setStatus(session: Session, status: Session["status"], reason: string | null): void {
    if (session.status === status) return;
    session.status = status;
    session.healthError = reason;
    session.writer.write("session_health", { health_status: status, health_error: reason });
    if (status !== "open" && session.active)
      session.finish(session.active, "session_closed", "timeout", null);
    if (status === "closed") session.writer.write("event", { event: "closed", reason });
    this.deps.logger.info("session health", { session_id: session.id, status, reason });
    session.notify();
    if (status !== "open") {
      // Nothing more will come from a dead pane: release its watcher, timer and descriptors.
      session.follower?.close();
      session.writer.close();
    }
  }

  async checkHealth(seen?: PaneRow[]): Promise<void> {
    const open = [...this.sessions.values()].filter((s) => s.status === "open");
    if (!open.length) return;
    const panes = new Map((seen ?? (await this.deps.tmux.listPanes())).map((p) => [p.info.paneId, p.info]));
    for (const s of open) {
      const info = panes.get(s.paneId);
      if (info?.ownerInstance && info.ownerInstance !== this.deps.instanceId) {
        this.release(s); // taken over: the other server reports its health now
        continue;
      }
      this.applyPaneState(s, await this.deadSettled(s, info));
      // The recorder: tmux no longer pipes the pane, or the pid is not our recorder any more.
      if (
        s.status === "open" &&
        info &&
        (!info.piped || !recorderIdentified(s)) &&
        !s.repairing &&
        Date.now() >= s.nextRepairAt
      )
        void repairRecorder(
          this,
          s,
          info.piped ? "the recorder process is gone" : "the pane is not piped to a recorder",
        ).catch((err: unknown) =>
          this.deps.logger.warn("recorder repair failed", {
            session_id: s.id,
            error: (err as Error).message,
          }),
        );
    }
  }

  async close(sessionId: string, force = false): Promise<Session> {
    await this.ready;
    let s = await this.resolve(sessionId, force);
    if (s.status === "open")
      s = await this.usable(sessionId, { force, actor: "agent" }).catch((err: unknown) => {
        // A closed-meanwhile session can still be closed; anything else (owned elsewhere) stops here.
        if (
          err instanceof SshMcpError &&
          (err.code === "SESSION_CLOSED" ||
            err.code === "SESSION_UNHEALTHY" ||
            err.code === "INPUT_LOCKED" ||
            err.code === "TRANSCRIPT_UNAVAILABLE")
        ) {
          return this.get(sessionId);
        }
        throw err;
      });
    s.follower?.drain();
    // Also for a session that already died: its dead pane (remain-on-exit) goes away now.
    await this.deps.tmux.killSession(s.tmuxName);
    if (s.status !== "closed") this.setStatus(s, "closed", "closed by close_session");
    return s;
  }

  info(s: Session): SessionInfo {
    return {
      session_id: s.id,
      profile: s.profile.name,
      host: s.profile.host,
      port: s.profile.port,
      username: s.profile.username ?? null,
      owner_label: s.ownerLabel,
      client_label: this.config.clientLabel,
      server_instance_id: this.deps.instanceId,
      // A session that cannot record takes no input: unhealthy until the transcript takes writes.
      status: s.status === "open" && unavailableReason(s) ? "unhealthy" : s.status,
      health_error: s.healthError ?? unavailableReason(s),
      created_at: s.createdAt,
      last_activity_at: s.lastActivityAt,
      transcript_path: s.transcriptPath,
      viewer_url: this.deps.viewerUrl(s.id),
      tmux_target: `${s.tmuxName}:0.0`,
      attach_command: attachCommand(this.deps.tmux.socket, s.tmuxName),
      bridge: s.profile.bridge,
      active_command_id: s.active?.result.command_id ?? null,
      shell: { family: s.shell.family, name: s.shell.name },
      attached_clients: s.attachedClients,
      owned_by_this_server: true,
      previous_session_id: s.previousSessionId,
      input_lock: s.lock,
      recording: unavailableReason(s) ? "unavailable" : "ok",
    };
  }

  /** Stops following transcripts; tmux sessions stay alive for the next server to adopt. */
  shutdown(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.recorderTimer) clearInterval(this.recorderTimer);
    for (const s of this.sessions.values()) {
      s.follower?.close();
      s.writer.close();
    }
  }
}

export function attachCommand(socket: string, tmuxName: string): string {
  return `tmux -L ${socket} attach -t ${tmuxName}`;
}
