import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { secretEnvNames } from "../config/load.js";
import { enterKey, type Profile } from "../config/schema.js";
import { errorMessage, SshMcpError } from "../errors.js";
import { ensureLab, labEnv } from "../ssh/lab.js";
import type { BridgeProfile } from "../ssh/ssh2-bridge.js";
import { nativeSshArgv } from "../ssh/native.js";
import { forcedConfigFile, forcedDir } from "../config/ssh-resolve.js";
import { describeOrigin, ssh2FromSshConfig } from "../ssh/profile-view.js";
import { chain, type TmuxCommand } from "../tmux/command.js";
import { TranscriptFollower } from "../transcript/reader.js";
import { TranscriptWriter } from "../transcript/writer.js";
import { bridgeExit, hasExitLine, paneCommands, sshPromptOnScreen } from "./pane-process.js";
import { classifyLoginFailure, lastLines } from "./login.js";
import type { SessionHost } from "./host.js";
import { cleanOutput } from "./output.js";
import { checkText, shellParserReady } from "../security/policy.js";
import { enforce, inputContext, probeShell, watchNestedShells } from "./operations.js";
import { classifyScreen } from "./screen.js";
import type { ProgressReporter } from "./progress.js";
import { tapArgv, watchWriter } from "./recorder.js";
import { writeMasks } from "./secrets.js";
import { Session } from "./session.js";
import { newSessionTags } from "./tags.js";
import { TmuxFailure, type SessionTmux } from "./tmux.js";

/**
 * open_session: validate the profile's files and secrets before anything starts, create the
 * pane (created, tagged and tapped in one tmux invocation, so not one byte of output escapes the
 * transcript), then watch the login until it settles or the bridge dies, and classify failures.
 */

/**
 * Runs the pane-creating tmux invocation; once more if the server it reached was exiting (a
 * server from an older version, started without exit-empty off, shutting down after its last
 * session).
 */
async function createPane(tmux: SessionTmux, commands: TmuxCommand[], id: string): Promise<string> {
  try {
    return (await tmux.run(chain(...commands))).trim().split("\n")[0] ?? "";
  } catch (err) {
    if (
      !(err instanceof TmuxFailure) ||
      !/server exited|lost server|no server|connection refused|server not found/i.test(err.tmux.stderr)
    )
      throw err;
    await tmux.killSession(id);
    return (await tmux.run(chain(...commands))).trim().split("\n")[0] ?? "";
  }
}

const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));

/** `ssh-mcp bridge <profile>`: the profile travels as base64 JSON (names of secrets, never values). */
function ssh2BridgeArgv(
  profile: Profile,
  connectTimeout: number,
  secrets: { passphrase?: string; password?: string },
  home: string,
): string[] {
  const fromConfig = profile.ssh_config_host ? ssh2FromSshConfig(profile, home) : {};
  const p: BridgeProfile = {
    host: profile.host,
    port: profile.port,
    ...(profile.username ? { username: profile.username } : {}),
    ...(profile.key_filename ? { key_filename: profile.key_filename } : {}),
    passphrase: secrets.passphrase !== undefined,
    password: secrets.password !== undefined,
    allow_agent: profile.allow_agent,
    look_for_keys: profile.look_for_keys,
    auto_add_host_key: profile.auto_add_host_key,
    ...(profile.known_hosts_file ? { known_hosts_file: profile.known_hosts_file } : {}),
    term: profile.term,
    keepalive_interval: profile.keepalive_interval,
    connect_timeout: connectTimeout,
    ...(profile.proxy_jump ? { proxy_jump: profile.proxy_jump } : {}),
    // An alias's resolved values (only what the profile does not name itself).
    ...fromConfig,
  };
  return [process.execPath, CLI, "bridge", Buffer.from(JSON.stringify(p)).toString("base64")];
}

function newSessionId(profile: string): string {
  const slug = profile.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 32) || "session";
  const ts = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${slug}-${ts}-${randomBytes(3).toString("hex")}`;
}

/** Reads the secrets a profile names; the conventional SSH_MCP_KEY_PASSPHRASE applies by default. */
function secretsFor(profile: Profile, env: NodeJS.ProcessEnv): { passphrase?: string; password?: string } {
  const secrets: { passphrase?: string; password?: string } = {};
  const passphraseEnv =
    profile.passphrase_env ?? (env.SSH_MCP_KEY_PASSPHRASE ? "SSH_MCP_KEY_PASSPHRASE" : undefined);
  for (const [field, envName] of [
    ["passphrase", passphraseEnv],
    ["password", profile.password_env],
  ] as const) {
    if (!envName) continue;
    const value = env[envName];
    if (value === undefined || value === "") {
      throw new SshMcpError(
        "SECRET_MISSING",
        `Profile '${profile.name}' takes its ${field} from $${envName}, which is not set in the MCP server's environment. Set it in the client's MCP server config (env) and restart the server.`,
      );
    }
    secrets[field] = value;
  }
  return secrets;
}

export async function openSession(
  host: SessionHost,
  profileOrName: string | Profile,
  ownerLabel: string | null,
  previousSessionId: string | null = null,
  progress?: ProgressReporter,
): Promise<Session> {
  const profile = typeof profileOrName === "string" ? host.profile(profileOrName) : profileOrName;
  if (profile.lab) progress?.step(`starting the lab for profile '${profile.name}'`);
  const secrets = await checkProfile(host, profile);
  const askpass = secrets.passphrase !== undefined || secrets.password !== undefined;
  // Before anything is started or recorded: a runtime directory that cannot hold it refuses here.
  const configFile = forcedFileFor(host, profile, askpass);
  const id = newSessionId(profile.name);
  const opening: Opening = {
    id,
    profile,
    configFile,
    ownerLabel,
    previousSessionId,
    createdAt: new Date().toISOString(),
    transcriptPath: join(host.transcriptsDir, `${id}.jsonl`),
  };
  const writer = startTranscript(host, opening);
  if (askpass) await host.askpass.start();
  const grant = askpass ? host.askpass.grant({ ...secrets, ...passwordFor(profile) }) : undefined;
  let unfollow: (() => void) | undefined;
  try {
    progress?.step(
      `connecting to ${profile.ssh_config_host ? `${profile.ssh_config_host} (${profile.host}:${profile.port})` : `${profile.host}:${profile.port}`}`,
    );
    const paneId = await launchPane(host, opening, writer, secrets, grant?.env);
    const session = followSession(host, opening, writer, paneId);
    // The login's own output (banners, a menu) is shown from its first byte.
    unfollow = progress?.follow(session, "logging in", 0);
    await settle(host, session, progress);
    writer.write("event", { event: "opened" });
    host.startHealthMonitor();
    return session;
  } finally {
    unfollow?.();
    grant?.revoke();
  }
}

/** What a login being opened is made of, before it has a pane. */
interface Opening {
  id: string;
  profile: Profile;
  /** ssh-mcp's -F file, for an ssh config alias or an ad-hoc target (ssh-resolve.ts). */
  configFile?: string;
  ownerLabel: string | null;
  previousSessionId: string | null;
  createdAt: string;
  transcriptPath: string;
}

/** The profile's files and secrets, checked before anything starts; returns the secrets. */
async function checkProfile(
  host: SessionHost,
  profile: Profile,
): Promise<{ passphrase?: string; password?: string }> {
  if (profile.ssh_config_host && profile.sshProblem) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${profile.name}' (${describeOrigin(profile)}): ${profile.sshProblem}. Fix the ssh config (diagnose_profile and list_profiles show it); nothing was started.`,
    );
  }
  const broken =
    host.config.profileSet.sshConfigPath && profile.ssh_config_host ? configError(host) : undefined;
  if (broken) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${profile.name}' is a Host of the ssh config, which cannot be used since ${broken.at}: ${broken.message}. Fix what this names (list_profiles shows it until then); nothing was started.`,
    );
  }
  // Refused now (a ProxyCommand, several hops), before anything starts.
  if (profile.bridge === "ssh2" && profile.ssh_config_host) ssh2FromSshConfig(profile, host.config.home);
  if (profile.lab) await ensureLab(profile.lab, labEnv(host.env, secretEnvNames(host.config)), host.logger);
  if (profile.key_filename && !existsSync(profile.key_filename)) {
    throw new SshMcpError(
      "KEY_NOT_FOUND",
      `Key file ${profile.key_filename} (profile '${profile.name}', key_filename) does not exist. Fix the path in ${host.config.configPath}.`,
    );
  }
  return secretsFor(profile, host.env);
}

/** ssh-mcp's -F file for a profile that needs one (an ssh config alias, an ad-hoc target). */
function forcedFileFor(host: SessionHost, profile: Profile, askpass: boolean): string | undefined {
  if (!profile.ssh_config_host && profile.origin?.kind !== "adhoc") return undefined;
  if (profile.bridge === "ssh2") return undefined;
  try {
    return forcedConfigFile(forcedDir(host.config.runtimeDir), host.config.profileSet.sshConfigPath, {
      strict: profile.auto_add_host_key ? "accept-new" : "yes",
      askpass,
      password: Boolean(profile.password_env),
    });
  } catch (err) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${profile.name}': ${errorMessage(err)}. Nothing was started.`,
    );
  }
}

/**
 * Through jump hosts or a ProxyCommand, the password goes only to the target's own prompt,
 * `user@host's password:` as OpenSSH words it (HostKeyAlias, else HostName), never a hop's.
 */
function passwordFor(profile: Profile): { passwordFor?: string } {
  const r = profile.ssh;
  if (r && (r.proxyjump.length || r.proxycommand))
    return { passwordFor: `${profile.username ?? r.user}@${r.hostkeyalias ?? r.hostname}` };
  // A profiles-file proxy_jump keeps answering as it always did (the user's ssh config may rename
  // the host in the prompt; a bastion may share the password): docs/configuration.md.
  return {};
}

/** The last reload's failure, when it was the ssh config that ssh refuses (not the profiles file). */
function configError(host: SessionHost): { message: string; at: string } | undefined {
  const err = host.catalog?.error;
  return err?.source === "ssh_config" ? err : undefined;
}

/** The transcript's first events; a transcripts directory that takes no write refuses the session now (docs/audit.md). */
function startTranscript(host: SessionHost, o: Opening): TranscriptWriter {
  const { profile } = o;
  const writer = new TranscriptWriter(o.transcriptPath, o.id);
  writer.mustWrite("session_meta", {
    profile: profile.name,
    host: profile.host,
    port: profile.port,
    username: profile.username ?? profile.ssh?.user ?? null,
    ...(profile.ssh_config_host ? { ssh_config_host: profile.ssh_config_host } : {}),
    ...(profile.origin?.kind === "adhoc" ? { adhoc_target: true } : {}),
    owner_label: o.ownerLabel,
    server_instance_id: host.instanceId,
    client_label: host.config.clientLabel,
    // The token stays out of the transcript: a reader of the audit log gets the page, not access.
    viewer_url: host.viewerUrl(o.id, true),
    tmux_target: `${o.id}:0.0`,
    bridge: profile.bridge,
    width: profile.width,
    height: profile.height,
    previous_session_id: o.previousSessionId,
  });
  if (o.previousSessionId)
    writer.write("event", { event: "reopened_from", previous_session_id: o.previousSessionId });
  return writer;
}

/** Creates the pane (created, tagged and tapped in one tmux invocation); returns its id. */
async function launchPane(
  host: SessionHost,
  o: Opening,
  writer: TranscriptWriter,
  secrets: { passphrase?: string; password?: string },
  askpassEnv: Record<string, string> | undefined,
): Promise<string> {
  const { profile, id } = o;
  // The recorder masks echoed secret values by this file (secrets.ts): written before it starts.
  writeMasks(o.transcriptPath, profile, host.env);
  const connectTimeout = Math.max(1, Math.ceil(host.config.timing.connectTimeoutMs / 1000) - 1);
  const commands = paneCommands({
    id,
    profile,
    bridgeArgv:
      profile.bridge === "ssh2"
        ? ssh2BridgeArgv(profile, connectTimeout, secrets, host.config.home)
        : nativeSshArgv(profile, {
            connectTimeout,
            askpass: askpassEnv !== undefined,
            ...(o.configFile ? { configFile: o.configFile } : {}),
          }),
    // ssh follows $HOME for relative Includes and `~`: the server's, whatever tmux's environment holds.
    env: {
      ...(profile.ssh_config_host || profile.origin?.kind === "adhoc" ? { HOME: host.config.home } : {}),
      ...(askpassEnv ?? {}),
    },
    // Secret variables a reload declared after tmux started are not in the pane either.
    unsetEnv: [...host.tmux.injectedEnv, ...secretEnvNames(host.config)],
    tapArgv: tapArgv(host.tapScript, profile, o.transcriptPath, id),
    options: newSessionTags({
      sessionId: id,
      profile: profile.name,
      serverInstanceId: host.instanceId,
      serverPid: process.pid,
      transcript: o.transcriptPath,
      ownerLabel: o.ownerLabel,
      createdAt: o.createdAt,
    }),
  });
  let paneId: string;
  try {
    paneId = await createPane(host.tmux, commands, id);
  } catch (err) {
    // new-session may have succeeded before a later command in the chain failed.
    await abandonPane(host, id, writer, err);
    writer.close();
    throw err;
  }
  host.logger.info("session created", { session_id: id, profile: profile.name, pane: paneId });
  return paneId;
}

/** An opening that failed: its tmux session goes (a dead pane with it), and why is recorded. */
async function abandonPane(
  host: SessionHost,
  id: string,
  writer: TranscriptWriter,
  err: unknown,
): Promise<void> {
  await host.tmux.killSession(id);
  writer.write("event", { event: "open_failed", error: (err as Error).message });
}

/** The new session, following its transcript, registered with the host. */
function followSession(host: SessionHost, o: Opening, writer: TranscriptWriter, paneId: string): Session {
  const session = new Session({
    id: o.id,
    profile: o.profile,
    ownerLabel: o.ownerLabel,
    createdAt: o.createdAt,
    paneId,
    tmuxName: o.id,
    transcriptPath: o.transcriptPath,
    writer,
    idleMs: host.config.timing.idleMs,
    resultOutputChars: host.config.resultOutputChars,
  });
  session.previousSessionId = o.previousSessionId;
  session.follower = new TranscriptFollower(o.transcriptPath, (ev, end) => {
    if (ev.dir === "recv" && typeof ev.text === "string") {
      session.lastRecordedTs = ev.ts;
      session.onRecv(ev.text, end);
    } else if (ev.dir === "event" && ev.event === "recorder" && typeof ev.pid === "number") {
      session.lastRecordedTs = ev.ts;
      session.recorderPid = ev.pid;
      session.recorderPipedAt = null;
    }
  });
  watchWriter(host, session);
  host.register(session);
  watchNestedShells(host, session);
  return session;
}

/** Login, route and landing; on failure the pane goes, the failure is recorded, the session forgotten. */
async function settle(host: SessionHost, session: Session, progress?: ProgressReporter): Promise<void> {
  try {
    await awaitLogin(host, session);
    await runRoute(host, session, progress);
    progress?.step("checking the shell");
    await landing(host, session);
  } catch (err) {
    await abandonPane(host, session.id, session.writer, err);
    session.status = "closed";
    session.healthError = err instanceof SshMcpError ? err.code : "open failed";
    host.forget(session);
    throw err;
  }
}

/**
 * Waits until the login settles: the bridge died (classified error), ssh itself sits at one of
 * its own prompts (refused: nothing can answer it), or output arrived and went quiet (or matched
 * prompt_regex) while the pane is alive.
 */
async function awaitLogin(host: SessionHost, session: Session): Promise<void> {
  const pane = host.tmux.pane(session.paneId);
  const { outcome, dead } = await watchLogin(host, session);
  if (outcome === "ok") {
    const info = await pane.info();
    if (info && !info.dead) {
      refuseSshPrompt(session);
      return;
    }
    return loginDied(host, session, info?.deadStatus ?? null);
  }
  if (outcome === undefined && !dead) {
    throw new SshMcpError(
      "CONNECT_TIMEOUT",
      `No shell appeared within ${host.config.timing.connectTimeoutMs} ms on profile '${session.profile.name}'. Screen tail: ${lastLines(screenTail(session), 5) || "(nothing)"}. Check the host and network, then call open_session again.`,
    );
  }
  return loginDied(host, session, dead?.status ?? null);
}

function screenTail(session: Session): string {
  return cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 8192)));
}

/**
 * Watches the login: "ok" once it settled with output (a shell prompt or a wizard as soon as the
 * output pauses, prompt_regex when the profile has one, else a quiet period), "dead" when the
 * pane died, undefined when the connect timeout ran out.
 */
async function watchLogin(
  host: SessionHost,
  session: Session,
): Promise<{ outcome: "ok" | "dead" | undefined; dead?: { status: number | null } }> {
  const { idleMs, connectTimeoutMs } = host.config.timing;
  const pane = host.tmux.pane(session.paneId);
  const settle = Math.min(idleMs, 500);
  const deadline = Date.now() + connectTimeoutMs;
  let lastCheck = 0;
  let seen = { end: -1, shellLike: false, wizard: false, prompt: false };
  let dead: { status: number | null } | undefined;
  const outcome = await session.waitUntil<"ok" | "dead">(
    () => {
      const now = Date.now();
      if (now - lastCheck >= 100 || session.stream.lastRecvAt > lastCheck) {
        lastCheck = now;
        // Not awaited (the check is synchronous): a dead pane is seen at the next check, woken by notify().
        void pane.info().then((info) => {
          if (!info || info.dead) {
            dead = { status: info?.deadStatus ?? null };
            session.notify();
          }
        });
      }
      if (dead) return "dead";
      if (session.stream.end === 0) return undefined;
      const quiet = now - session.stream.lastRecvAt;
      // The screen is read again only when output came (a hundred logins at once poll often).
      if (session.stream.end !== seen.end) {
        const tail = screenTail(session);
        seen = {
          end: session.stream.end,
          shellLike: classifyScreen(tail).shellLike === true,
          wizard: wizard(tail) !== undefined,
          prompt: session.prompt?.test(lastLines(tail, 3)) ?? false,
        };
      }
      // A shell prompt is ready as soon as the output pauses: the probe confirms it (no fixed
      // quiet wait). Anything else (a menu, a banner still printing) settles as before; an
      // exotic prompt settles like a menu and is probed by landing().
      if (quiet >= PROMPT_PAUSE_MS && (seen.shellLike || seen.wizard)) return "ok";
      if (session.prompt) return seen.prompt ? "ok" : undefined;
      return quiet >= settle ? "ok" : undefined;
    },
    Math.max(0, deadline - Date.now()),
    10,
  );
  return { outcome, dead };
}

/** A login that settled on one of ssh's own prompts is refused: nothing can answer it. */
function refuseSshPrompt(session: Session): void {
  const last = lastLines(screenTail(session), 1);
  const prompt = sshPromptOnScreen(last);
  if (!prompt) return;
  const p = session.profile;
  throw new SshMcpError(
    prompt === "host_key" ? "HOST_KEY_UNKNOWN" : "AUTH_FAILED",
    prompt === "host_key"
      ? `ssh asks to confirm an unknown host key ('${last}'), which an agent must not answer. Verify the fingerprint and add it to ${p.known_hosts_file ?? "~/.ssh/known_hosts"} (for a proxy_jump host too), or set "auto_add_host_key": true.`
      : `ssh asks for a secret on the terminal ('${last}'). Set "passphrase_env"/"password_env" in profile '${p.name}' (OpenSSH older than 8.4 cannot take secrets from ssh-mcp: upgrade the client or use ssh-agent).`,
    { output_tail: lastLines(screenTail(session), 8) },
  );
}

/** The bridge died during the login: its classified failure, from its last words. */
async function loginDied(host: SessionHost, session: Session, status: number | null): Promise<never> {
  // The bridge's last words (and its exit status line) may still be on their way from the tap.
  await session.waitUntil(() => {
    session.follower?.drain();
    return hasExitLine(session.stream.slice(Math.max(0, session.stream.end - 4096))) ? true : undefined;
  }, 1000);
  let exit = bridgeExit(cleanOutput(session.stream.slice(0)), status);
  // Rarely (seen under load, jump host refusing in milliseconds) the tap records nothing of a
  // bridge that died at once; the dead pane (remain-on-exit) still shows ssh's words.
  if (!exit.text.trim()) {
    const screen = await host.tmux
      .pane(session.paneId)
      .capture()
      .catch(() => "");
    exit = bridgeExit(screen, exit.status);
  }
  throw classifyLoginFailure(exit.text, exit.status, session.profile);
}

/** How long output must pause on a shell prompt before the landing is probed. */
const PROMPT_PAUSE_MS = 25;

/**
 * First-run wizards that stand between a login and its prompt, and the key that leaves each
 * without changing anything on the remote (zsh-newuser-install's `q`: "Quit and do nothing",
 * it asks again next time; `0` would write a ~/.zshrc).
 */
const WIZARDS: { name: string; screen: RegExp; keys: string[] }[] = [
  {
    name: "zsh-newuser-install",
    screen: /zsh-newuser-install|Z Shell configuration function for new users/,
    keys: ["q"],
  },
];

function wizard(text: string): (typeof WIZARDS)[number] | undefined {
  return WIZARDS.find((w) => w.screen.test(text));
}

/**
 * What the session landed on, known before open_session returns: a first-run wizard is
 * dismissed (recorded), then a shell prompt is probed (shells.ts) so the family is known and the
 * first command wraps at once; a menu or another prompt is left as it is ("other" after a probe
 * that got no answer, "unknown" when not probed).
 */
async function landing(host: SessionHost, session: Session): Promise<void> {
  const tail = (): string => cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 8192)));
  const w = wizard(lastLines(tail(), 30));
  if (w) {
    session.writer.write("send", { tool: "landing", keys: w.keys, text: w.keys.join(""), actor: "agent" });
    session.writer.write("event", { event: "first_run_wizard", name: w.name, dismissed_with: w.keys });
    session.otherInput();
    const from = session.stream.end;
    await host.tmux.sendKeys(session.paneId, w.keys);
    await session.waitUntil(() => {
      const quiet = Date.now() - session.stream.lastRecvAt >= PROMPT_PAUSE_MS;
      const after = cleanOutput(session.stream.slice(from));
      return quiet && classifyScreen(after).kind === "prompt" ? true : undefined;
    }, host.config.timing.connectTimeoutMs);
  }
  // Nothing was typed yet: whatever waits there without asking (`➜  ~ `, tcsh's `> `) is worth a
  // probe; a menu or a question (`Target IP: `) is not.
  const screen = session.screen();
  if (!(screen.probeWorthy || (screen.kind === "text" && screen.line === ">"))) return;
  if (!(await probeShell(host, session))) return;
  // The prompt the shell prints after the probe's answer is what later commands are checked
  // against (knownPrompt): learnt only while nothing else was typed, so wait for it (briefly) before
  // the session is handed over. On a loaded machine it could otherwise come after the agent's
  // first keys, and never be learnt.
  // (A prompt of two lines is never learnt: then the wait ends once its output pauses.)
  await session.waitUntil(
    () =>
      session.knownPrompt !== null ||
      (session.stream.end > session.promptFrom && Date.now() - session.stream.lastRecvAt >= PROMPT_PAUSE_MS)
        ? true
        : undefined,
    2000,
    10,
  );
}

/**
 * The profile's route (bastion menu choices): each step waits for `expect` in the output that
 * arrived since the previous step, then sends its text. A step that does not match in time fails
 * open_session with the screen tail. After the last step, the output settles (or prompt_regex
 * matches) before the session is handed over.
 */
async function runRoute(host: SessionHost, session: Session, progress?: ProgressReporter): Promise<void> {
  const steps = session.profile.route;
  if (!steps.length) return;
  const { connectTimeoutMs, idleMs } = host.config.timing;
  const enter = enterKey(session.profile);
  const tail = (from: number): string =>
    cleanOutput(session.stream.slice(Math.max(from, session.stream.end - 8192)));
  const pane = host.tmux.pane(session.paneId);
  let from = 0;
  for (const [i, step] of steps.entries()) {
    progress?.step(`route step ${i + 1}/${steps.length}: waiting for '${step.expect}'`);
    const re = new RegExp(step.expect, "m");
    const ok = await session.waitUntil(() => (re.test(tail(from)) ? true : undefined), connectTimeoutMs);
    if (!ok) {
      throw new SshMcpError(
        "ROUTE_FAILED",
        `Route step ${i + 1} of profile '${session.profile.name}' waited ${connectTimeoutMs} ms for /${step.expect}/ and did not see it. Screen tail:\n${lastLines(tail(0), 6)}\nFix the step's "expect" in the profile.`,
      );
    }
    let text = step.send;
    const sensitive = step.sensitive || step.send_env !== undefined;
    if (step.send_env) {
      const value = host.env[step.send_env];
      if (!value) {
        throw new SshMcpError(
          "SECRET_MISSING",
          `Route step ${i + 1} of profile '${session.profile.name}' sends $${step.send_env}, which is not set in the MCP server's environment.`,
        );
      }
      text = value;
    }
    // Route steps go through the same policy as every other input (docs/security.md).
    if (session.profile.security.mode !== "unrestricted") {
      await shellParserReady();
      const verdict = checkText(session.profile, text, sensitive, inputContext(session), true);
      enforce(session, "route", verdict, sensitive ? "[REDACTED]" : text);
    }
    from = session.stream.end;
    session.otherInput("typed", sensitive ? undefined : text);
    session.writer.mustWrite("send", {
      tool: "route",
      text: sensitive ? "[REDACTED]" : text + enter,
      actor: "agent",
      route_step: i + 1,
      ...(sensitive ? { sensitive: true } : {}),
    });
    if (sensitive) {
      await pane.paste(text);
      await pane.sendLiteral(enter);
    } else {
      await pane.sendLiteral(text + enter);
    }
  }
  progress?.step(`route done (${steps.length} steps): waiting for the output to settle`);
  const sentAt = Date.now();
  await session.waitUntil(() => {
    const quiet = Date.now() - Math.max(sentAt, session.stream.lastRecvAt) >= Math.min(idleMs, 500);
    if (!quiet || session.stream.end === from) return undefined;
    if (session.prompt && !session.prompt.test(lastLines(tail(from), 1))) return undefined;
    return true;
  }, connectTimeoutMs);
}
