import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AskpassServer } from "../ssh/askpass-server.js";
import { nativeSshArgv } from "../ssh/native.js";
import { chain, shQuote, type PaneInfo, type Tmux, type TmuxCommand } from "../tmux/client.js";
import { TranscriptFollower } from "../transcript/reader.js";
import { TranscriptWriter } from "../transcript/writer.js";
import { classifyLoginFailure, isTransportLoss, lastLines } from "./login.js";
import { cleanOutput } from "./output.js";
import { Session } from "./session.js";
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

  async open(profileName: string, ownerLabel: string | null): Promise<Session> {
    const profile = this.profile(profileName);
    if (profile.bridge === "ssh2") {
      throw new SshMcpError(
        "CONFIG_ERROR",
        `Profile '${profile.name}' uses bridge "ssh2", which this build does not support yet. Use "bridge": "native".`,
      );
    }
    if (profile.key_filename && !existsSync(profile.key_filename)) {
      throw new SshMcpError(
        "KEY_NOT_FOUND",
        `Key file ${profile.key_filename} (profile '${profile.name}', key_filename) does not exist. Fix the path in ${this.config.configPath}.`,
      );
    }
    const secrets: { passphrase?: string; password?: string } = {};
    for (const [field, envName] of [
      ["passphrase", profile.passphrase_env],
      ["password", profile.password_env],
    ] as const) {
      if (!envName) continue;
      const value = this.deps.env[envName];
      if (value === undefined || value === "") {
        throw new SshMcpError(
          "SECRET_MISSING",
          `Profile '${profile.name}' takes its ${field} from $${envName}, which is not set in the MCP server's environment. Set it in the client's MCP server config (env) and restart the server.`,
        );
      }
      secrets[field] = value;
    }

    const createdAt = new Date().toISOString();
    const id = newSessionId(profile.name);
    const transcriptPath = join(this.deps.transcriptsDir, `${id}.jsonl`);
    const writer = new TranscriptWriter(transcriptPath, id);
    const viewerBase = this.deps.viewerBaseUrl();
    writer.write("session_meta", {
      profile: profile.name,
      host: profile.host,
      port: profile.port,
      username: profile.username ?? null,
      owner_label: ownerLabel,
      server_instance_id: this.deps.instanceId,
      client_label: this.config.clientLabel,
      viewer_url: viewerBase ? `${viewerBase}/sessions/${id}` : null,
      tmux_target: `${id}:0.0`,
      bridge: profile.bridge,
    });

    const askpass = secrets.passphrase !== undefined || secrets.password !== undefined;
    const grant = askpass ? (await this.deps.askpass.start(), this.deps.askpass.grant(secrets)) : undefined;
    const connectTimeout = Math.max(1, Math.ceil(this.config.timing.connectTimeoutMs / 1000) - 1);
    const sshArgv = nativeSshArgv(profile, { connectTimeout, askpass });
    const envArgs = Object.entries(grant?.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    const tapCmd = `exec ${shQuote(process.execPath)} ${shQuote(this.deps.tapScript)} ${shQuote(transcriptPath)} ${shQuote(id)}`;
    const target = `=${id}:`;
    const options: [string, string][] = [
      ["@ssh_mcp_session_id", id],
      ["@ssh_mcp_profile", profile.name],
      ["@ssh_mcp_server_instance_id", this.deps.instanceId],
      ["@ssh_mcp_server_pid", String(process.pid)],
      ["@ssh_mcp_transcript", transcriptPath],
      ["@ssh_mcp_owner_label", ownerLabel ?? ""],
      ["@ssh_mcp_created_at", createdAt],
    ];
    const commands: TmuxCommand[] = [
      ["set-option", "-g", "history-limit", "50000"],
      ["set-option", "-gw", "remain-on-exit", "on"],
      [
        "new-session",
        "-d",
        "-s",
        id,
        "-x",
        String(profile.width),
        "-y",
        String(profile.height),
        ...envArgs,
        "-P",
        "-F",
        "#{pane_id}",
        "--",
        "env",
        `TERM=${profile.term}`,
        "sh",
        "-c",
        BRIDGE_WRAPPER,
        "ssh-mcp-bridge",
        ...sshArgv,
      ],
      ["set-option", "-w", "-t", target, "window-size", "manual"],
      ...options.map(([k, v]): TmuxCommand => ["set-option", "-w", "-t", target, k, v]),
      ["pipe-pane", "-O", "-t", target, tapCmd],
    ];
    let paneId: string;
    this.deps.logger.debug("tmux new-session", { argv: chain(...commands) });
    try {
      paneId = (await this.deps.tmux.run(chain(...commands))).trim().split("\n")[0] ?? "";
    } catch (err) {
      grant?.revoke();
      writer.write("event", { event: "open_failed", error: (err as Error).message });
      writer.close();
      throw err;
    }
    this.deps.logger.info("session created", { session_id: id, profile: profile.name, pane: paneId });
    const session = new Session({
      id,
      profile,
      ownerLabel,
      createdAt,
      paneId,
      tmuxName: id,
      transcriptPath,
      writer,
    });
    session.follower = new TranscriptFollower(transcriptPath, (ev) => {
      if (ev.dir === "recv" && typeof ev.text === "string") session.onRecv(ev.text);
    });
    this.sessions.set(id, session);
    try {
      await this.awaitLogin(session);
    } catch (err) {
      await this.deps.tmux.killSession(id);
      session.status = "closed";
      session.healthError = err instanceof SshMcpError ? err.code : "open failed";
      writer.write("event", { event: "open_failed", error: (err as Error).message });
      session.follower.close();
      this.sessions.delete(id);
      writer.close();
      throw err;
    } finally {
      grant?.revoke();
    }
    writer.write("event", { event: "opened" });
    this.startHealthMonitor();
    return session;
  }

  /**
   * Waits until the login settles: the bridge died (classified error), or output arrived and
   * went quiet (or matched prompt_regex) while the pane is alive.
   */
  private async awaitLogin(session: Session): Promise<void> {
    const { idleMs, connectTimeoutMs } = this.config.timing;
    const settle = Math.min(idleMs, 500);
    const prompt = session.profile.prompt_regex ? new RegExp(session.profile.prompt_regex) : undefined;
    const deadline = Date.now() + connectTimeoutMs;
    let lastCheck = 0;
    let dead: { status: number | null } | undefined;
    const outcome = await session.waitUntil<"ok" | "dead">(
      () => {
        const now = Date.now();
        if (now - lastCheck >= 100 || session.stream.lastRecvAt > lastCheck) {
          lastCheck = now;
          void this.deps.tmux.paneInfo(session.paneId).then((info) => {
            this.deps.logger.debug("login pane check", { info });
            if (!info || info.dead) {
              dead = { status: info?.deadStatus ?? null };
              session.notify();
            }
          });
        }
        if (dead) return "dead";
        const got = session.stream.end > 0;
        if (!got) return undefined;
        if (prompt) return prompt.test(lastLines(cleanOutput(session.stream.slice(0)), 3)) ? "ok" : undefined;
        return now - session.stream.lastRecvAt >= settle ? "ok" : undefined;
      },
      Math.max(0, deadline - Date.now()),
      50,
    );
    if (outcome === "ok") {
      // A pane that died in the same instant still counts as a failed login.
      const info = await this.deps.tmux.paneInfo(session.paneId);
      if (info && !info.dead) return;
      dead = { status: info?.deadStatus ?? null };
    }
    if (outcome === undefined && !dead) {
      throw new SshMcpError(
        "CONNECT_TIMEOUT",
        `No shell appeared within ${connectTimeoutMs} ms on profile '${session.profile.name}'. Screen tail: ${lastLines(cleanOutput(session.stream.slice(0)), 5) || "(nothing)"}. Check the host and network, then call open_session again.`,
      );
    }
    // Let the tap flush the bridge's last words before reading them.
    await session.waitUntil(() => {
      session.follower?.drain();
      return EXIT_LINE_ONE.test(session.stream.slice(Math.max(0, session.stream.end - 4096)))
        ? true
        : undefined;
    }, 1000);
    const exit = bridgeExit(cleanOutput(session.stream.slice(0)), dead?.status ?? null);
    throw classifyLoginFailure(exit.text, exit.status, session.profile);
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

/**
 * The pane runs the bridge under a tiny sh that prints its exit status as the pane's last line:
 * tmux's own #{pane_dead_status} is sometimes never filled in (seen with tmux 3.3a), and the
 * line also tells a human looking at the dead pane what happened.
 */
export const BRIDGE_WRAPPER = `"$@"; rc=$?; printf '\\r\\n[ssh-mcp] bridge exited with status %s\\r\\n' "$rc"; exit "$rc"`;

const EXIT_LINE_ONE = /\[ssh-mcp\] bridge exited with status \d+/;
const EXIT_LINE = /\[ssh-mcp\] bridge exited with status (\d+)\n?/g;

/** The bridge's exit status from its last words (else tmux's), and the text without that line. */
export function bridgeExit(text: string, tmuxStatus: number | null): { status: number | null; text: string } {
  const all = [...text.matchAll(EXIT_LINE)];
  const last = all[all.length - 1];
  return {
    status: last?.[1] !== undefined ? Number(last[1]) : tmuxStatus,
    text: text.replace(EXIT_LINE, ""),
  };
}

export function attachCommand(socket: string, tmuxName: string): string {
  return `tmux -L ${socket} attach -t ${tmuxName}`;
}

export function newSessionId(profile: string): string {
  const slug = profile.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 32) || "session";
  const ts = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${slug}-${ts}-${randomBytes(3).toString("hex")}`;
}
