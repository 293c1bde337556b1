import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AskpassServer } from "../ssh/askpass-server.js";
import type { PaneInfo, Tmux } from "../tmux/client.js";
import { bridgeExit } from "./bridge.js";
import { isTransportLoss, lastLines } from "./login.js";
import { openSession } from "./open.js";
import { cleanOutput } from "./output.js";
import type { Session } from "./session.js";
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
  tmux: Tmux;
  instanceId: string;
  transcriptsDir: string;
  tapScript: string;
  askpass: AskpassServer;
  env: NodeJS.ProcessEnv;
  viewerBaseUrl: () => string | null;
}

export class SessionManager {
  readonly sessions = new Map<string, Session>();
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(readonly deps: ManagerDeps) {}

  get config(): Config {
    return this.deps.config;
  }

  startHealthMonitor(): void {
    if (this.healthTimer) return;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.config.timing.healthIntervalMs);
    this.healthTimer.unref();
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

  /** A session that can take input: open, not closed or unhealthy (checked against tmux now). */
  async usable(sessionId: string): Promise<Session> {
    const s = this.get(sessionId);
    if (s.status === "open") await this.refresh(s);
    if (s.status === "closed") {
      throw new SshMcpError(
        "SESSION_CLOSED",
        `Session '${s.id}' is closed${s.healthError ? ` (${s.healthError})` : ""}. Its transcript is kept at ${s.transcriptPath}. Call open_session to start a new one.`,
      );
    }
    if (s.status === "unhealthy") {
      throw new SshMcpError(
        "SESSION_UNHEALTHY",
        `Session '${s.id}' lost its SSH transport (${s.healthError ?? "unknown"}). Nothing was sent. Close it and call open_session again; the remote shell state is not restored automatically.`,
      );
    }
    return s;
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
  private async deadSettled(session: Session, info: PaneInfo | undefined): Promise<PaneInfo | undefined> {
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

  private applyPaneState(
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

  async checkHealth(): Promise<void> {
    const open = [...this.sessions.values()].filter((s) => s.status === "open");
    if (!open.length) return;
    const panes = new Map((await this.deps.tmux.listPanes()).map((p) => [p.info.paneId, p.info]));
    for (const s of open) this.applyPaneState(s, await this.deadSettled(s, panes.get(s.paneId)));
  }

  async close(sessionId: string): Promise<Session> {
    const s = this.get(sessionId);
    s.follower?.drain();
    // Also for a session that already died: its dead pane (remain-on-exit) goes away now.
    await this.deps.tmux.killSession(s.tmuxName);
    if (s.status !== "closed") this.setStatus(s, "closed", "closed by close_session");
    return s;
  }

  info(s: Session): SessionInfo {
    const base = this.deps.viewerBaseUrl();
    return {
      session_id: s.id,
      profile: s.profile.name,
      host: s.profile.host,
      port: s.profile.port,
      username: s.profile.username ?? null,
      owner_label: s.ownerLabel,
      client_label: this.config.clientLabel,
      server_instance_id: this.deps.instanceId,
      status: s.status,
      health_error: s.healthError,
      created_at: s.createdAt,
      last_activity_at: s.lastActivityAt,
      transcript_path: s.transcriptPath,
      viewer_url: base ? `${base}/sessions/${s.id}` : null,
      tmux_target: `${s.tmuxName}:0.0`,
      attach_command: attachCommand(this.deps.tmux.socket, s.tmuxName),
      bridge: s.profile.bridge,
      active_command_id: s.active?.result.command_id ?? null,
      attached_clients: s.attachedClients,
    };
  }

  /** Stops following transcripts; tmux sessions stay alive for the next server to adopt. */
  shutdown(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const s of this.sessions.values()) {
      s.follower?.close();
      s.writer.close();
    }
  }
}

export function attachCommand(socket: string, tmuxName: string): string {
  return `tmux -L ${socket} attach -t ${tmuxName}`;
}
