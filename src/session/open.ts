import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { secretEnvNames } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import type { BridgeProfile } from "../ssh/ssh2-bridge.js";
import { nativeSshArgv } from "../ssh/native.js";
import { chain, type TmuxCommand } from "../tmux/command.js";
import { TranscriptFollower } from "../transcript/reader.js";
import { TranscriptWriter } from "../transcript/writer.js";
import { bridgeExit, hasExitLine, paneCommands, sshPromptOnScreen } from "./bridge.js";
import { classifyLoginFailure, lastLines } from "./login.js";
import type { SessionManager } from "./manager.js";
import { cleanOutput } from "./output.js";
import { ensureLab, labEnv } from "./lab.js";
import { checkText, shellParserReady } from "../security/policy.js";
import { enforce, inputContext, probeShell, watchNestedShells } from "./operations.js";
import { classifyScreen } from "./screen.js";
import { tapArgv, watchWriter } from "./recorder.js";
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
): string[] {
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
  };
  return [process.execPath, CLI, "bridge", Buffer.from(JSON.stringify(p)).toString("base64")];
}

export function newSessionId(profile: string): string {
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
  mgr: SessionManager,
  profileName: string,
  ownerLabel: string | null,
  previousSessionId: string | null = null,
): Promise<Session> {
  const { config, deps } = mgr;
  const profile = mgr.profile(profileName);
  if (profile.bridge === "ssh2" && profile.ssh_config_host) {
    throw new SshMcpError(
      "CONFIG_ERROR",
      `Profile '${profile.name}': ssh_config_host needs the native bridge (ssh2 does not read ~/.ssh/config). Use "bridge": "native" or give host/port/username.`,
    );
  }
  if (profile.lab) await ensureLab(profile.lab, labEnv(deps.env, secretEnvNames(config)), deps.logger);
  if (profile.key_filename && !existsSync(profile.key_filename)) {
    throw new SshMcpError(
      "KEY_NOT_FOUND",
      `Key file ${profile.key_filename} (profile '${profile.name}', key_filename) does not exist. Fix the path in ${config.configPath}.`,
    );
  }
  const secrets = secretsFor(profile, deps.env);

  const createdAt = new Date().toISOString();
  const id = newSessionId(profile.name);
  const transcriptPath = join(deps.transcriptsDir, `${id}.jsonl`);
  const writer = new TranscriptWriter(transcriptPath, id);
  // A transcripts directory that takes no write refuses the session now (docs/audit.md).
  writer.mustWrite("session_meta", {
    profile: profile.name,
    host: profile.host,
    port: profile.port,
    username: profile.username ?? null,
    owner_label: ownerLabel,
    server_instance_id: deps.instanceId,
    client_label: config.clientLabel,
    // The token stays out of the transcript: a reader of the audit log gets the page, not access.
    viewer_url: deps.viewerUrl(id, true),
    tmux_target: `${id}:0.0`,
    bridge: profile.bridge,
    width: profile.width,
    height: profile.height,
    previous_session_id: previousSessionId,
  });
  if (previousSessionId)
    writer.write("event", { event: "reopened_from", previous_session_id: previousSessionId });

  const askpass = secrets.passphrase !== undefined || secrets.password !== undefined;
  if (askpass) await deps.askpass.start();
  const grant = askpass ? deps.askpass.grant(secrets) : undefined;
  const connectTimeout = Math.max(1, Math.ceil(config.timing.connectTimeoutMs / 1000) - 1);
  const commands = paneCommands({
    id,
    profile,
    bridgeArgv:
      profile.bridge === "ssh2"
        ? ssh2BridgeArgv(profile, connectTimeout, secrets)
        : nativeSshArgv(profile, { connectTimeout, askpass }),
    env: grant?.env ?? {},
    unsetEnv: deps.tmux.injectedEnv,
    tapArgv: tapArgv(deps.tapScript, profile, transcriptPath, id),
    options: newSessionTags({
      sessionId: id,
      profile: profile.name,
      serverInstanceId: deps.instanceId,
      serverPid: process.pid,
      transcript: transcriptPath,
      ownerLabel,
      createdAt,
    }),
  });
  let paneId: string;
  try {
    paneId = await createPane(deps.tmux, commands, id);
  } catch (err) {
    grant?.revoke();
    // new-session may have succeeded before a later command in the chain failed.
    await deps.tmux.killSession(id);
    writer.write("event", { event: "open_failed", error: (err as Error).message });
    writer.close();
    throw err;
  }
  deps.logger.info("session created", { session_id: id, profile: profile.name, pane: paneId });
  const session = new Session({
    id,
    profile,
    ownerLabel,
    createdAt,
    paneId,
    tmuxName: id,
    transcriptPath,
    writer,
    idleMs: config.timing.idleMs,
    resultOutputChars: config.resultOutputChars,
  });
  session.previousSessionId = previousSessionId;
  session.follower = new TranscriptFollower(transcriptPath, (ev, end) => {
    if (ev.dir === "recv" && typeof ev.text === "string") {
      session.lastRecordedTs = ev.ts;
      session.onRecv(ev.text, end);
    } else if (ev.dir === "event" && ev.event === "recorder" && typeof ev.pid === "number") {
      session.lastRecordedTs = ev.ts;
      session.recorderPid = ev.pid;
      session.recorderPipedAt = null;
    }
  });
  watchWriter(mgr, session);
  mgr.sessions.set(id, session);
  watchNestedShells(mgr, session);
  try {
    await awaitLogin(mgr, session);
    await runRoute(mgr, session);
    await landing(mgr, session);
  } catch (err) {
    await deps.tmux.killSession(id);
    writer.write("event", { event: "open_failed", error: (err as Error).message });
    session.status = "closed";
    session.healthError = err instanceof SshMcpError ? err.code : "open failed";
    session.follower.close();
    mgr.sessions.delete(id);
    writer.close();
    throw err;
  } finally {
    grant?.revoke();
  }
  writer.write("event", { event: "opened" });
  mgr.startHealthMonitor();
  return session;
}

/**
 * Waits until the login settles: the bridge died (classified error), ssh itself sits at one of
 * its own prompts (refused: nothing can answer it), or output arrived and went quiet (or matched
 * prompt_regex) while the pane is alive.
 */
async function awaitLogin(mgr: SessionManager, session: Session): Promise<void> {
  const { idleMs, connectTimeoutMs } = mgr.config.timing;
  const pane = mgr.deps.tmux.pane(session.paneId);
  const settle = Math.min(idleMs, 500);
  const deadline = Date.now() + connectTimeoutMs;
  const screenTail = (): string => cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 8192)));
  let lastCheck = 0;
  let seen = { end: -1, shellLike: false, wizard: false, prompt: false };
  let dead: { status: number | null } | undefined;
  const outcome = await session.waitUntil<"ok" | "dead">(
    () => {
      const now = Date.now();
      if (now - lastCheck >= 100 || session.stream.lastRecvAt > lastCheck) {
        lastCheck = now;
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
        const tail = screenTail();
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
  if (outcome === "ok") {
    const info = await pane.info();
    if (info && !info.dead) {
      const last = lastLines(screenTail(), 1);
      const prompt = sshPromptOnScreen(last);
      if (!prompt) return;
      const p = session.profile;
      throw new SshMcpError(
        prompt === "host_key" ? "HOST_KEY_UNKNOWN" : "AUTH_FAILED",
        prompt === "host_key"
          ? `ssh asks to confirm an unknown host key ('${last}'), which an agent must not answer. Verify the fingerprint and add it to ${p.known_hosts_file ?? "~/.ssh/known_hosts"} (for a proxy_jump host too), or set "auto_add_host_key": true.`
          : `ssh asks for a secret on the terminal ('${last}'). Set "passphrase_env"/"password_env" in profile '${p.name}' (OpenSSH older than 8.4 cannot take secrets from ssh-mcp: upgrade the client or use ssh-agent).`,
        { output_tail: lastLines(screenTail(), 8) },
      );
    }
    dead = { status: info?.deadStatus ?? null };
  }
  if (outcome === undefined && !dead) {
    throw new SshMcpError(
      "CONNECT_TIMEOUT",
      `No shell appeared within ${connectTimeoutMs} ms on profile '${session.profile.name}'. Screen tail: ${lastLines(screenTail(), 5) || "(nothing)"}. Check the host and network, then call open_session again.`,
    );
  }
  // The bridge's last words (and its exit status line) may still be on their way from the tap.
  await session.waitUntil(() => {
    session.follower?.drain();
    return hasExitLine(session.stream.slice(Math.max(0, session.stream.end - 4096))) ? true : undefined;
  }, 1000);
  let exit = bridgeExit(cleanOutput(session.stream.slice(0)), dead?.status ?? null);
  // Rarely (seen under load, jump host refusing in milliseconds) the tap records nothing of a
  // bridge that died at once; the dead pane (remain-on-exit) still shows ssh's words.
  if (!exit.text.trim()) {
    const screen = await pane.capture().catch(() => "");
    exit = bridgeExit(screen, exit.status);
  }
  throw classifyLoginFailure(exit.text, exit.status, session.profile);
}

const ENTER: Record<string, string> = { lf: "\n", cr: "\r", crlf: "\r\n" };

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
async function landing(mgr: SessionManager, session: Session): Promise<void> {
  const tail = (): string => cleanOutput(session.stream.slice(Math.max(0, session.stream.end - 8192)));
  const w = wizard(lastLines(tail(), 30));
  if (w) {
    session.writer.write("send", { tool: "landing", keys: w.keys, text: w.keys.join(""), actor: "agent" });
    session.writer.write("event", { event: "first_run_wizard", name: w.name, dismissed_with: w.keys });
    session.otherInput();
    const from = session.stream.end;
    await mgr.deps.tmux.sendKeys(session.paneId, w.keys);
    await session.waitUntil(() => {
      const quiet = Date.now() - session.stream.lastRecvAt >= PROMPT_PAUSE_MS;
      const after = cleanOutput(session.stream.slice(from));
      return quiet && classifyScreen(after).kind === "prompt" ? true : undefined;
    }, mgr.config.timing.connectTimeoutMs);
  }
  // Nothing was typed yet: whatever waits there without asking (`➜  ~ `, tcsh's `> `) is worth a
  // probe; a menu or a question (`Target IP: `) is not.
  const screen = session.screen();
  if (screen.probeWorthy || (screen.kind === "text" && screen.line === ">")) await probeShell(mgr, session);
}

/**
 * The profile's route (bastion menu choices): each step waits for `expect` in the output that
 * arrived since the previous step, then sends its text. A step that does not match in time fails
 * open_session with the screen tail. After the last step, the output settles (or prompt_regex
 * matches) before the session is handed over.
 */
async function runRoute(mgr: SessionManager, session: Session): Promise<void> {
  const steps = session.profile.route;
  if (!steps.length) return;
  const { connectTimeoutMs, idleMs } = mgr.config.timing;
  const enter = ENTER[session.profile.enter_sequence] ?? "\n";
  const tail = (from: number): string =>
    cleanOutput(session.stream.slice(Math.max(from, session.stream.end - 8192)));
  const pane = mgr.deps.tmux.pane(session.paneId);
  let from = 0;
  for (const [i, step] of steps.entries()) {
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
      const value = mgr.deps.env[step.send_env];
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
  const sentAt = Date.now();
  await session.waitUntil(() => {
    const quiet = Date.now() - Math.max(sentAt, session.stream.lastRecvAt) >= Math.min(idleMs, 500);
    if (!quiet || session.stream.end === from) return undefined;
    if (session.prompt && !session.prompt.test(lastLines(tail(from), 1))) return undefined;
    return true;
  }, connectTimeoutMs);
}
