import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { errorMessage, SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AskpassServer } from "../ssh/askpass-server.js";
import { formatAnd, formatEq, formatVar, type TmuxCommand } from "../tmux/command.js";
import { bridgeExit } from "./pane-process.js";
import type { AccessLevel, AccessOptions, Granted, ReadTarget, SendTarget, SessionHost } from "./host.js";
import { isTransportLoss, lastLines } from "./login.js";
import { openSession } from "./open.js";
import { adhocProfile, canonicalHost, routeOf } from "../config/adhoc.js";
import { secretEnvNames } from "../config/load.js";
import { DEFAULT_FORCED, forcedConfigFile, forcedDir, resolveAlias, sshEnv } from "../config/ssh-resolve.js";
import type { ProfileCatalog } from "../config/catalog.js";
import type { ProgressReporter } from "./progress.js";
import { cleanOutput } from "./output.js";
import { adopt, discover, serverAlive, type PaneRow } from "./adopt.js";
import { activeLock } from "./locks.js";
import { HumanSecretRequests } from "./human-secret.js";
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
 *
 * What the helpers may ask of it is written down in host.ts (SessionHost); the table of sessions
 * is its own (edited here only).
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
  /** The live profiles (reload, ssh -G); absent in tests that build a manager by hand. */
  catalog?: ProfileCatalog;
}

/**
 * The profile a target belongs to, if any: one named like it (a profile, an ssh config Host or
 * the entry that claims it), or one that connects to the same host (its host, the HostName or
 * HostKeyAlias its alias resolves to) on the port ssh will use. Profiles-file entries first (a
 * restricted entry is the one to name). The built-in lab is no one's secret. A guard, not a
 * boundary: another DNS name for the same machine is not recognised; allow_adhoc_targets is
 * the operator's decision.
 */
function configuredHost(config: Config, names: string[], port: number, route: string): string | undefined {
  const wanted = new Set(names.map(canonicalHost));
  const profiles = Object.values(config.profiles).sort(
    (a, b) => Number(b.origin?.kind === "profiles_file") - Number(a.origin?.kind === "profiles_file"),
  );
  for (const p of profiles) {
    if (p.lab) continue;
    const named = [p.name, p.ssh_config_host].filter(Boolean) as string[];
    if (named.some((n) => wanted.has(canonicalHost(n)))) return p.name;
    // The same address reached another way (another jump host) may be another machine.
    const hosts = [p.host, p.reaches, p.ssh?.hostname, p.ssh?.hostkeyalias].filter(Boolean) as string[];
    if (p.port === port && routeOf(p) === route && hosts.some((n) => wanted.has(canonicalHost(n))))
      return p.name;
  }
  const alias = config.profileSet.sshAliases.find((a) => wanted.has(canonicalHost(a)));
  return alias === undefined ? undefined : (config.profileSet.owners[alias] ?? alias);
}

/** Why the lock check runs: the words of its refusals. */
type LockPurpose = "input" | "close";

export class SessionManager implements SessionHost {
  private readonly table = new Map<string, Session>();
  private healthTimer: NodeJS.Timeout | undefined;
  private recorderTimer: NodeJS.Timeout | undefined;
  /** sendChecked's condition (built once: the instance id never changes). */
  private sendCondition: string | undefined;
  /** Followers of sessions coming and going (watchSessions). */
  private readonly sessionWatchers = new Set<() => void>();

  /** Resolves once start-up adoption is done; tools wait for it. */
  ready: Promise<void> = Promise.resolve();

  private secrets: HumanSecretRequests | undefined;
  /** ask_human_secret's pending requests (this server's memory only: a restart drops them). */
  get humanSecrets(): HumanSecretRequests {
    return (this.secrets ??= new HumanSecretRequests(this.deps.config.timing.humanSecretTtlMs));
  }

  constructor(private readonly deps: ManagerDeps) {}

  get config(): Config {
    return this.deps.config;
  }
  get catalog(): ProfileCatalog | undefined {
    return this.deps.catalog;
  }
  get tmux(): SessionTmux {
    return this.deps.tmux;
  }
  get logger(): Logger {
    return this.deps.logger;
  }
  get instanceId(): string {
    return this.deps.instanceId;
  }
  get env(): NodeJS.ProcessEnv {
    return this.deps.env;
  }
  get transcriptsDir(): string {
    return this.deps.transcriptsDir;
  }
  get tapScript(): string {
    return this.deps.tapScript;
  }
  get askpass(): AskpassServer {
    return this.deps.askpass;
  }

  viewerUrl(sessionId?: string, bare?: boolean): string | null {
    return this.deps.viewerUrl(sessionId, bare);
  }

  known(sessionId: string): Session | undefined {
    return this.table.get(sessionId);
  }

  all(): Session[] {
    return [...this.table.values()];
  }

  register(s: Session): void {
    this.table.set(s.id, s);
    this.sessionsChanged();
  }

  forget(s: Session): void {
    this.table.delete(s.id);
    this.releaseResources(s);
    this.sessionsChanged();
  }

  /**
   * Calls `fn` whenever a session starts or stops being held, or its status changes (MCP
   * resource lists follow this), until the returned function is called.
   */
  watchSessions(fn: () => void): () => void {
    this.sessionWatchers.add(fn);
    return () => this.sessionWatchers.delete(fn);
  }

  private sessionsChanged(): void {
    for (const fn of [...this.sessionWatchers]) fn();
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
          `Profiles come from ${this.config.configPath}${this.config.configFound ? "" : " (not found)"}` +
          `${this.config.profileSet.sshConfigPath ? ` and the Hosts of ${this.config.profileSet.sshConfigPath}` : ""}: list_profiles shows them.`,
      );
    }
    return p;
  }

  /** How each access level is granted (host.ts's AccessLevel says what each promises). */
  private readonly grants: { [L in AccessLevel]: (id: string, o: AccessOptions) => Promise<Granted[L]> } = {
    observe: (id) => this.observe(id),
    read: (id) => this.resolve(id, false),
    claim: (id, o) => this.resolve(id, o.force ?? false),
    close: (id, o) => this.closable(id, o.force ?? false),
    drive: (id, o) => this.usable(id, o),
    send: (id, o) => this.sendable(id, o),
  };

  async access<L extends AccessLevel>(
    sessionId: string,
    level: L,
    opts: AccessOptions = {},
  ): Promise<Granted[L]> {
    await this.ready;
    return this.grants[level](sessionId, opts);
  }

  /**
   * "drive": a session that can take input now: ours (or taken over with `force`), open (checked
   * against tmux), recording, and not locked by another actor.
   */
  private async usable(sessionId: string, opts: AccessOptions): Promise<Session> {
    const { s, info } = await this.current(sessionId, opts.force ?? false);
    mustBeOpen(s);
    // No input without a recorder: a lost one is replaced first, an unwritable transcript refuses.
    await ensureRecording(this, s, info?.piped ?? true);
    this.noteFastInput(s, info);
    this.passLock(s, info, opts, "input");
    return s;
  }

  /**
   * "send", the hot path of execute_command and send_text: a session of ours whose last full
   * check found its window ours, alive and without any input lock skips the separate check (a
   * tmux process of its own); `sendChecked` repeats that check inside the tmux server, in the
   * same step as the send. Otherwise the full check ("drive").
   */
  private async sendable(sessionId: string, opts: AccessOptions): Promise<SendTarget> {
    const s = this.table.get(sessionId);
    if (s && s.status === "open" && s.fastInput && !opts.force && recordingOk(s))
      return { session: s, fast: true };
    return { session: await this.usable(sessionId, opts), fast: false };
  }

  /**
   * "close": ours (or taken over with `force`); if it is open, not locked by another actor. A
   * session that is unhealthy, closed meanwhile, or cannot record is still closed.
   */
  private async closable(sessionId: string, force: boolean): Promise<Session> {
    const { s, info } = await this.current(sessionId, force);
    if (s.status !== "open") return s;
    await ensureRecording(this, s, info?.piped ?? true).catch((err: unknown) => {
      if (!(err instanceof SshMcpError) || err.code !== "TRANSCRIPT_UNAVAILABLE") throw err;
    });
    this.noteFastInput(s, info);
    this.passLock(s, info, { force, actor: "agent" }, "close");
    return s;
  }

  /**
   * Our session as tmux shows it now (its pane's state read once, when it is open): found or
   * adopted (resolve), let go of and asked for again if another server took it over meanwhile,
   * and its status brought up to date.
   */
  private async current(sessionId: string, force: boolean): Promise<{ s: Session; info?: TaggedPane }> {
    for (;;) {
      const s = await this.resolve(sessionId, force);
      const info = s.status === "open" ? await this.deps.tmux.paneInfo(s.paneId) : undefined;
      if (info && info.ownerInstance && info.ownerInstance !== this.deps.instanceId) {
        // Taken over by another server: not ours any more. Let go of it, then ask again (which
        // adopts it back if that server is gone, or refuses without force).
        this.release(s);
        if (!force && serverAlive(info.ownerPid)) {
          throw new SshMcpError(
            "SESSION_OWNED_ELSEWHERE",
            `Session '${s.id}' was taken over by server ${info.ownerInstance}. Nothing was sent. Pass force: true to take it back (recorded in the transcript).`,
          );
        }
        continue;
      }
      if (s.status === "open") this.applyPaneState(s, await this.deadSettled(s, info));
      return { s, info };
    }
  }

  /** The next input may take the fast path only while the window looks exactly like this. */
  private noteFastInput(s: Session, info: TaggedPane | undefined): void {
    s.fastInput = info?.ownerInstance === this.deps.instanceId && !info.lock && !info.dead;
  }

  /**
   * Another actor's input lock refuses (INPUT_LOCKED); with force it is overridden (recorded),
   * except under readonly, where forcing past it is refused (POLICY_BLOCKED, recorded).
   */
  private passLock(s: Session, info: TaggedPane | undefined, opts: AccessOptions, why: LockPurpose): void {
    const lock = activeLock(info?.lock);
    const actor = opts.actor ?? "agent";
    if (!lock || lock.actor === actor) return;
    const input = why === "input";
    if (!opts.force) {
      throw new SshMcpError(
        "INPUT_LOCKED",
        input
          ? `Session '${s.id}' is locked for input by ${lock.actor} until ${lock.expires_at}. Nothing was sent. Wait, ask them to release it, or call acquire_input_lock with force: true.`
          : `Session '${s.id}' is locked for input by ${lock.actor} until ${lock.expires_at}. Nothing was closed. Wait, ask them to release it, or pass force: true to close it anyway (recorded).`,
      );
    }
    if (s.profile.security.mode === "readonly") {
      const rule = `readonly: ${input ? "typing" : "closing"} past the input lock of ${lock.actor} with force`;
      s.writer.write("security_block", {
        tool: input ? "input" : "close_session",
        actor,
        rule,
        mode: "readonly",
      });
      throw new SshMcpError(
        "POLICY_BLOCKED",
        `Refused by profile '${s.profile.name}' security policy (${rule}). Nothing was ${input ? "sent" : "closed"}. Wait until ${lock.actor} releases the lock or it expires (${lock.expires_at}).`,
        { rule },
      );
    }
    s.writer.write("lock", { action: "override", actor, lock_actor: lock.actor, forced: true });
  }

  sendChecked(s: Session, commands: TmuxCommand[], also?: string): Promise<boolean> {
    // Ours, alive, unlocked, and piped to its recorder.
    this.sendCondition ??= formatAnd(
      formatEq(TAG_FORMAT.serverInstanceId, this.deps.instanceId),
      formatEq(formatVar("pane_dead"), "0"),
      formatEq(TAG_FORMAT.lock, ""),
      formatEq(formatVar("pane_pipe"), "1"),
    );
    const cond = also ? formatAnd(this.sendCondition, also) : this.sendCondition;
    return this.deps.tmux.runIf(s.paneId, cond, commands).then((sent) => {
      if (!sent) s.fastInput = false;
      return sent;
    });
  }

  /** "claim": our session, or one found in tmux: adopted if its server is gone, taken over with force. */
  private async resolve(sessionId: string, force: boolean): Promise<Session> {
    const mine = this.table.get(sessionId);
    if (mine) return mine;
    const row = (await discover(this)).find((r) => r.info.sessionId === sessionId);
    if (!row) throw unknownSession(sessionId);
    const alive = row.info.ownerInstance !== this.deps.instanceId && serverAlive(row.info.ownerPid);
    if (alive && !force) {
      throw new SshMcpError(
        "SESSION_OWNED_ELSEWHERE",
        `Session '${sessionId}' belongs to another live ssh-mcp server (${row.info.ownerInstance}, pid ${row.info.ownerPid}). Nothing was sent. Pass force: true to take it over (recorded in the transcript), or use that server.`,
      );
    }
    const [s] = await adopt(this, [row], alive);
    const adopted = s ?? this.table.get(sessionId);
    if (!adopted) throw unknownSession(sessionId);
    return adopted;
  }

  /** "observe": ours or an orphan (adopted), else another live server's pane and transcript. */
  private async observe(sessionId: string): Promise<ReadTarget> {
    try {
      const s = await this.resolve(sessionId, false);
      return {
        id: s.id,
        paneId: s.paneId,
        transcriptPath: s.transcriptPath,
        status: s.status,
        profile: s.profile,
        redact: s.profile.security.redact_transcripts,
      };
    } catch (err) {
      if (!(err instanceof SshMcpError) || err.code !== "SESSION_OWNED_ELSEWHERE") throw err;
      const row = (await discover(this)).find((r) => r.info.sessionId === sessionId);
      if (!row) throw err;
      const p = this.config.profiles[row.profile];
      return {
        id: sessionId,
        paneId: row.info.paneId,
        transcriptPath: row.transcript,
        status: row.info.dead ? "closed" : "open",
        profile: { width: p?.width ?? 120, height: p?.height ?? 40 },
        redact: p?.security.redact_transcripts ?? true,
      };
    }
  }

  /** Forgets a session that another server now owns, releasing what we held for it. */
  private release(s: Session): void {
    this.forget(s);
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
    return [...this.all().map((s) => this.info(s)), ...(await this.foreign(rows))];
  }

  /** Adopts every pane whose server is gone (at start, and whenever sessions are listed). */
  async adoptOrphans(seen?: PaneRow[]): Promise<Session[]> {
    const rows = seen ?? (await discover(this));
    const orphans = rows.filter(
      (r) =>
        !this.table.has(r.info.sessionId) &&
        r.info.ownerInstance !== this.deps.instanceId &&
        !serverAlive(r.info.ownerPid),
    );
    return adopt(this, orphans);
  }

  /** open_session; `progress` (a call with a progress token) hears each login and route step. */
  async open(
    profileName: string,
    ownerLabel: string | null,
    progress?: ProgressReporter,
    target?: string,
  ): Promise<Session> {
    // A reload or the start-up's ssh -G may still be resolving the ssh config's hosts.
    await this.deps.catalog?.settled;
    const profile = target !== undefined ? await this.adhoc(target, this.config.keepalive) : profileName;
    return openSession(this, profile, ownerLabel, null, progress);
  }

  /**
   * An ad-hoc target's profile (adhoc.ts), once allowed and parsed: resolved with `ssh -G` as its
   * ssh will see it (the user's config for that name: HostName, Port), refused when that is a
   * configured host (TARGET_NOT_ALLOWED, naming the profile), with the port ssh will use.
   */
  private async adhoc(target: string, keepalive: number): Promise<Profile> {
    const p = adhocProfile(target, this.config.profileSet.allowAdhocTargets, keepalive);
    let file: string;
    try {
      file = forcedConfigFile(
        forcedDir(this.config.runtimeDir),
        this.config.profileSet.sshConfigPath,
        DEFAULT_FORCED,
      );
    } catch (err) {
      throw new SshMcpError("CONFIG_ERROR", `${errorMessage(err)}. Nothing was started.`);
    }
    const extra = [
      ...(p.origin?.port_default ? [] : ["-p", String(p.port)]),
      ...(p.username ? ["-l", p.username] : []),
    ];
    const r = await resolveAlias(
      p.host,
      file,
      sshEnv(this.env, this.config.home, secretEnvNames(this.config)),
      extra,
    );
    if (!r.ok)
      throw new SshMcpError("CONFIG_ERROR", `target '${p.name}': ${r.problem}. Nothing was started.`);
    const names = [
      p.host,
      r.resolved.hostname,
      ...(r.resolved.hostkeyalias ? [r.resolved.hostkeyalias] : []),
    ];
    const owner = configuredHost(this.config, names, r.resolved.port, routeOf({ ...p, ssh: r.resolved }));
    if (owner) {
      throw new SshMcpError(
        "TARGET_NOT_ALLOWED",
        `'${p.host}' is configured: open it with open_session(profile: '${owner}'), which applies its security mode and approvals. Ad-hoc targets are for hosts that have no profile. Nothing was started.`,
      );
    }
    // Shown and recorded as ssh will connect: the port it uses (the config's Port, else 22).
    return { ...p, port: r.resolved.port };
  }

  /** close_session, on a session granted "close": ends its tmux session (and so ssh). */
  async close(s: Session, reason = "closed by close_session"): Promise<Session> {
    s.follower?.drain();
    // Also for a session that already died: its dead pane (remain-on-exit) goes away now.
    await this.deps.tmux.killSession(s.tmuxName);
    if (s.status !== "closed") this.setStatus(s, "closed", reason);
    return s;
  }

  /**
   * reopen_session, on an old session granted "close" (so a refusal to close it comes before any
   * login): a new login with the same profile and owner label (and so the same route), linked
   * both ways to the old session. Never automatic. An old session still open is closed, checked
   * again after the login: if that is refused now, the new session is closed and nothing is left
   * behind.
   */
  async reopen(
    old: Session,
    force = false,
    progress?: ProgressReporter,
  ): Promise<{ session: Session; previous: Session }> {
    // Log in first: if that fails, the old session is left as it was.
    await this.deps.catalog?.settled;
    // An ad-hoc target has no name to look up: it logs in again as it was, if still allowed.
    const again =
      old.profile.origin?.kind === "adhoc"
        ? await this.adhoc(old.profile.name, old.profile.keepalive_interval)
        : old.profile.name;
    const next = await openSession(this, again, old.ownerLabel, old.id, progress);
    if (old.status === "open") {
      try {
        await this.close(await this.access(old.id, "close", { force }));
      } catch (err) {
        await this.close(next, "closed: reopen_session could not close the session it replaces");
        throw err;
      }
    }
    old.writer.reopenForAppend();
    old.writer.write("event", { event: "reopened_as", session_id_new: next.id });
    old.writer.close();
    return { session: next, previous: old };
  }

  /** Sessions of other live servers, as SessionInfo (listed, not driven). */
  private async foreign(seen?: PaneRow[]): Promise<SessionInfo[]> {
    const rows = seen ?? (await discover(this));
    return rows
      .filter((r) => !this.table.has(r.info.sessionId) && r.info.ownerInstance !== this.deps.instanceId)
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

  /**
   * A pane can be seen dead a moment before the tap has delivered the bridge's last words (and
   * its exit status line); wait briefly for them so the close reason is exact.
   */
  private async deadSettled(session: Session, info: TaggedPane | undefined): Promise<TaggedPane | undefined> {
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
      this.releaseResources(session);
      // A human's page for this session can type nowhere now: its waiting call answers at once.
      this.secrets?.endSession(
        session.id,
        new SshMcpError(
          status === "closed" ? "SESSION_CLOSED" : "SESSION_UNHEALTHY",
          `Nothing was typed: session ${session.id} is ${status}${reason ? ` (${reason})` : ""}. Open or reopen a session, bring the prompt up again, then ask again.`,
        ),
      );
    }
    this.sessionsChanged();
  }

  private async checkHealth(seen?: PaneRow[]): Promise<void> {
    const open = this.all().filter((s) => s.status === "open");
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
        // In the background: one repair must not hold up the other sessions' checks (s.repairing
        // keeps a second one from starting meanwhile).
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
    for (const s of this.table.values()) {
      s.follower?.close();
      s.writer.close();
    }
  }
}

function mustBeOpen(s: Session): void {
  if (s.status === "closed") {
    throw new SshMcpError(
      "SESSION_CLOSED",
      `Session '${s.id}' is closed${s.healthError ? ` (${s.healthError})` : ""}. Nothing was sent. Its transcript is kept at ${s.transcriptPath}. Call reopen_session to log in again with the same profile and route.`,
    );
  }
  if (s.status === "unhealthy") {
    throw new SshMcpError(
      "SESSION_UNHEALTHY",
      `Session '${s.id}' lost its SSH transport (${s.healthError ?? "unknown"}). Nothing was sent. Call reopen_session to log in again (the remote shell state, e.g. a pod shell, is not restored).`,
    );
  }
}

function unknownSession(sessionId: string): SshMcpError {
  return new SshMcpError(
    "UNKNOWN_SESSION",
    `Unknown session_id '${sessionId}'. Call list_sessions to see open sessions, or open_session to start one.`,
  );
}

export function attachCommand(socket: string, tmuxName: string): string {
  return `tmux -L ${socket} attach -t ${tmuxName}`;
}
