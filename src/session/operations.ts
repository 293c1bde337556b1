import { enterKey } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import { tailEvents } from "../transcript/reader.js";
import type { TranscriptEvent } from "../transcript/writer.js";
import type { AccessOptions, ReadTarget, SendTarget, SessionHost } from "./host.js";
import { activeLock } from "./locks.js";
import { confirmPattern, requireApproval, type Asker } from "./approval.js";
import {
  checkBuiltCommand,
  checkCommand,
  checkKeys,
  checkText,
  checkTyped,
  shellParserReady,
  type InputContext,
  type Verdict,
} from "../security/policy.js";
import { lastLines } from "./login.js";
import { redactText, redactValues } from "../transcript/redact.js";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { RE2JS } from "re2js";
import { pageOutput, replySize, tailWithin } from "./output/budget.js";
import { cleanOutput } from "./output/clean.js";
import { classifyScreen, howToLeave, isBusy, sameShape } from "./screen.js";
import {
  cannotWrap,
  echoEnd,
  entersShell,
  installLine,
  parseInstall,
  parseProbe,
  probeLine,
  wrapCommand,
  type Family,
} from "./shells.js";
import { fitsOneMessage, literalCommands, type TmuxCommand } from "../tmux/command.js";
import type { Session, TrackedCommand } from "./session.js";
import type { CommandResult } from "./types.js";

/**
 * What the tools do with a session, in terms of the manager, the session's stream and tmux.
 * Durations come in as parameters (seconds from tools, ms inside) so tests can shrink them.
 */

/**
 * Reply bytes a page of output may take (both copies, see replyCost): under the MCP client's
 * 10 MB message cap with room for the other fields. Plain ASCII output of up to 4 MB fits whole.
 */
export const PAGE_BUDGET = 8_000_000;

/** What a policy check of text or keys may ask about the session (read lazily). */
export function inputContext(s: Session): InputContext {
  return {
    family: s.shell.family,
    screen: () => {
      const sc = s.screen();
      // Only the known shell's prompt (or one shaped like it) is a shell prompt to the policy.
      const atShell =
        sc.kind === "prompt" &&
        (s.shell.family === "unknown" || sc.known === true || sameShape(sc.cursor ?? "", s.knownPrompt));
      return { kind: sc.kind === "prompt" && !atShell ? "text" : sc.kind, line: sc.line };
    },
    // Before a shell is known (login, a bastion menu) no shell is there to read typeahead.
    running: () =>
      (s.shell.family === "posix" || s.shell.family === "fish" || s.shell.family === "csh") &&
      (s.active !== undefined || s.promptGen !== s.inputGen),
  };
}

/** Refuses (and records) input the profile's security policy does not allow. */
export function enforce(s: Session, tool: string, verdict: Verdict, shown: string): void {
  if (verdict.allowed) return;
  s.writer.write("security_block", { tool, text: shown, rule: verdict.rule, mode: s.profile.security.mode });
  throw new SshMcpError(
    "POLICY_BLOCKED",
    `Refused by profile '${s.profile.name}' security policy (${verdict.rule}). Nothing was sent. Use a read-only command, or ask the operator to change "security" in the profile.`,
    { rule: verdict.rule },
  );
}

function enterOf(s: Session): string {
  return enterKey(s.profile);
}

/** A regex from a tool call, matched in linear time (see compileRegex). */
interface Matcher {
  test(text: string): boolean;
  /** The first match's text, or null. */
  exec(text: string): string | null;
}

/**
 * A regex from a tool call runs on RE2 semantics (re2js): linear in the text whatever the
 * pattern, so `(a+)+$` cannot freeze the event loop (V8's backtracking took 7 s on 26
 * characters). RE2 has no lookaround or backreferences: such a pattern is INVALID_ARGUMENT.
 */
function compileRegex(pattern: string, field: string): Matcher {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, RE2JS.MULTILINE);
  } catch (err) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `${field}: not a valid RE2 regular expression (${(err as Error).message}). RE2 has no lookaround or backreferences; write \\x{2713} rather than \\u2713.`,
    );
  }
  // Linear in the text, but also in the compiled program: a pattern such as (.{0,100}){10}
  // costs seconds per pass over the window. Prompts and markers need a few dozen instructions.
  if (re.programSize() > MAX_PROGRAM) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `${field}: the regular expression is too large to match quickly (${re.programSize()} RE2 instructions, at most ${MAX_PROGRAM}). Use a shorter pattern, or a plain substring (regex: false).`,
    );
  }
  return {
    test: (text) => re.matcher(text).find(),
    exec: (text) => {
      const m = re.matcher(text);
      return m.find() ? m.group() : null;
    },
  };
}

/** Largest compiled wait_for pattern, in RE2 instructions (`\]# ?$` is 7, `(?i)done|error` ~20). */
const MAX_PROGRAM = 300;

export interface ExecuteOptions extends AccessOptions {
  command: string;
  waitForPrompt: boolean;
  timeoutMs: number;
  tool?: string;
  /** Who approves a command matching the profile's confirm_patterns (approval.ts). */
  asker?: Asker;
}

/**
 * execute_command. Types only at a shell prompt (SCREEN_BUSY otherwise, nothing typed); wraps
 * the command for the shell family the last probe found (probing first when that is not known);
 * types it as-is where no shell answers (a menu, a REPL). A line that did not start (another
 * shell is listening) is retried once after a new probe, else NOT_STARTED. See docs/shells.md.
 */
export async function executeCommand(
  host: SessionHost,
  target: SendTarget,
  opts: ExecuteOptions,
): Promise<CommandResult> {
  const { s, cmd } = await runCommand(host, target, opts);
  return resultFor(host, s, cmd);
}

/** executeCommand's work: the session it ran in (the full check may have found it anew) and the command. */
export async function runCommand(
  host: SessionHost,
  target: SendTarget,
  opts: ExecuteOptions,
): Promise<{ s: Session; cmd: TrackedCommand }> {
  await checkCommandLine(host, target.session, opts);
  let run = await typeAndWait(host, target, opts);
  if (run.cmd.result.completion === "not_started") {
    // Nothing of the line ran (the shell refused it before our helper printed anything): once
    // more, after a new probe, if a shell prompt shows.
    const s = run.target.session;
    if (!((await atPromptSoon(s)) && (await probeShell(host, s)))) throw notStartedError(s, run.cmd);
    run = await typeAndWait(host, run.target, opts);
    if (run.cmd.result.completion === "not_started") throw notStartedError(run.target.session, run.cmd);
  }
  const s = run.target.session;
  // A command that left us at another shell's prompt (kubectl exec, ssh, exit): find out which.
  if (
    run.cmd.result.completion === "prompt" &&
    run.mode === "marker" &&
    !s.shell.ready &&
    s.screen().probeWorthy
  ) {
    await probeShell(host, s, run.cmd.result.command_id).catch(() => false);
    // The result names the shell the command left us in (recorded with the probe's event).
    run.cmd.result = { ...run.cmd.result, shell: s.shell.name ?? s.shell.family };
  }
  return { s, cmd: run.cmd };
}

/** The command line is not empty and the profile's policy allows it (POLICY_BLOCKED, recorded). */
async function checkCommandLine(host: SessionHost, s: Session, opts: ExecuteOptions): Promise<void> {
  if (!opts.command.trim()) throw new SshMcpError("INVALID_ARGUMENT", "command: must not be empty.");
  if (s.profile.security.mode !== "unrestricted") await shellParserReady();
  const verdict =
    opts.tool === "search_logs"
      ? checkBuiltCommand(s.profile, opts.command, s.shell.family, "search_logs")
      : checkCommand(s.profile, opts.command, s.shell.family);
  enforce(s, opts.tool ?? "execute_command", verdict, opts.command);
  // A human approves a command matching confirm_patterns before it is typed (search_logs only reads).
  if (s.profile.confirm_patterns && opts.tool !== "search_logs")
    await requireApproval(host, s, opts.tool ?? "execute_command", opts.command, opts.asker);
}

/** Types the command (checkedSend) and waits for it to complete, ask for input, or time out. */
async function typeAndWait(
  host: SessionHost,
  target: SendTarget,
  opts: ExecuteOptions,
): Promise<{ target: SendTarget; cmd: TrackedCommand; mode: string }> {
  // The check that no command runs, the screen check, a probe and the send happen alone
  // (Session.exclusive): two calls at once cannot both pass, nor interleave keystrokes.
  const sent = await checkedSend(host, target, opts, (kb) =>
    kb.s.exclusive(() => typeCommand(host, kb, opts)),
  );
  await waitForCompletion(host, sent.target.session, sent.value.cmd, opts.timeoutMs);
  return { target: sent.target, ...sent.value };
}

/** One attempt at typing the command: checked, recorded, then typed (or NOT_SENT, see checkedSend). */
async function typeCommand(
  host: SessionHost,
  kb: Keyboard,
  opts: ExecuteOptions,
): Promise<{ cmd: TrackedCommand; mode: string } | typeof NOT_SENT> {
  const { s } = kb;
  if (s.active) {
    throw new SshMcpError(
      "COMMAND_RUNNING",
      `Command ${s.active.result.command_id} (${JSON.stringify(s.active.result.command.slice(0, 80))}) is still running in session '${s.id}'. ` +
        `Call get_command to read its progress, send_text if it waits for input, or cancel_command/interrupt to stop it.`,
    );
  }
  const family = await prepareInput(host, s, opts.waitForPrompt, () => kb.checked());
  if (family) {
    const why = cannotWrap(family, opts.command);
    if (why) throw new SshMcpError("INVALID_ARGUMENT", `command: ${why} Nothing was sent.`);
  }
  if (
    (family === "csh" && opts.command.includes("\t")) ||
    ((family === "csh" || family === "fish") && Buffer.byteLength(opts.command) > COOKED_LINE)
  )
    await editorReady(s);
  const { cmd, keys } = recordCommand(s, opts, family);
  try {
    // On the fast path: typed only if the window is still ours, alive, unlocked, not on the
    // alternate screen.
    if (!(await kb.type(keys, NOT_ALTERNATE))) {
      notSent(s, cmd);
      return NOT_SENT;
    }
    cmd.sentAt = Date.now();
  } catch (err) {
    s.finish(cmd, "failed", "timeout", null, "");
    throw err;
  }
  return { cmd, mode: cmd.mode };
}

/**
 * Starts tracking the command and records it (command_start, then the send): recorded, or not
 * typed (docs/audit.md). Returns it with the keys that type it.
 */
function recordCommand(
  s: Session,
  opts: ExecuteOptions,
  family: Family | undefined,
): { cmd: TrackedCommand; keys: TmuxCommand[] } {
  const mode = family ? "marker" : "raw";
  const enter = enterOf(s);
  const cmd = s.newCommand(opts.command, mode);
  cmd.result.shell = s.shell.name ?? s.shell.family;
  const text = family ? wrapCommand(s.shell, family, opts.command, cmd.nonce) : opts.command;
  if (!family) {
    cmd.capture.echo = opts.command;
    s.otherInput("raw");
  }
  // Clears whatever is half-typed on the line first (C-u: readline's and the tty's line
  // kill), or leftover input would be prefixed to the line and swallow the begin mark.
  const clear = family ? ["C-u"] : [];
  const keys = literalCommands(s.paneId, text + enter, clear);
  const tool = opts.tool ?? "execute_command";
  try {
    s.writer.mustWrite("command_start", {
      // The same instant as the ledger's, so a replay rebuilds it exactly.
      ts: cmd.result.started_at,
      command_id: cmd.result.command_id,
      command: opts.command,
      mode,
      nonce: cmd.nonce,
      tool,
      shell: s.shell.name ?? s.shell.family,
    });
    s.writer.mustWrite("send", {
      tool,
      text: text + enter,
      actor: "agent",
      ...(clear.length ? { keys_before: clear } : {}),
    });
  } catch (err) {
    s.finish(cmd, "failed", "timeout", null, "");
    throw err;
  }
  return { cmd, keys };
}

/**
 * How one attempt types into its session (see checkedSend). After the full check: straight.
 * On the fast path (no tmux call so far): through sendChecked when the keys fit one tmux
 * message (false: refused inside tmux, nothing typed); else after the full check.
 */
interface Keyboard {
  s: Session;
  type(keys: TmuxCommand[], also?: string): Promise<boolean>;
  /** The full check now, if only the fast one was made: before input that is not a checked send (a probe). */
  checked(): Promise<void>;
}

/** What an attempt returns when the fast path's check inside tmux refused its input. */
const NOT_SENT = Symbol("not sent");

function keyboard(host: SessionHost, target: SendTarget, access: AccessOptions): Keyboard {
  const s = target.session;
  let fast = target.fast;
  const checked = async (why: string): Promise<void> => {
    if (!fast) return;
    // The full check (it throws what refuses); after it, input goes straight.
    await host.access(s.id, "drive", access).catch((err: unknown) => {
      notSent(s, undefined, why);
      throw err;
    });
    fast = false;
  };
  return {
    s,
    type: async (keys, also) => {
      if (fast && fitsOneMessage(keys)) return host.sendChecked(s, keys, also);
      await checked("the full check refused it (too long for the fast path's one-message check)");
      await host.tmux.sendCommands(keys);
      return true;
    },
    checked: () => checked("the full check before a probe refused it"),
  };
}

/** The session's full check ("drive") when only the fast one was made. */
async function fullCheck(host: SessionHost, target: SendTarget, access: AccessOptions): Promise<SendTarget> {
  if (!target.fast) return target;
  return { session: await host.access(target.session.id, "drive", access), fast: false };
}

/**
 * The checked send of execute_command and send_text: `attempt` checks, records and types its
 * input once, through the keyboard it is given. On the fast path, if the check inside tmux
 * refused (the window changed under us: a lock, an owner, an exit, a full-screen program), the
 * attempt was recorded as not sent, and the full check runs: it explains the refusal (throws),
 * or lets the input go, and the attempt runs once more after it.
 */
async function checkedSend<T>(
  host: SessionHost,
  target: SendTarget,
  access: AccessOptions,
  attempt: (kb: Keyboard) => Promise<T | typeof NOT_SENT>,
): Promise<{ target: SendTarget; value: T }> {
  const first = await attempt(keyboard(host, target, access));
  if (first !== NOT_SENT) return { target, value: first };
  const full = await fullCheck(host, target, access);
  const again = await attempt(keyboard(host, full, access));
  // After the full check the keyboard types straight: it never refuses.
  if (again === NOT_SENT) throw new Error("input refused after the full check");
  return { target: full, value: again };
}

const NOT_ALTERNATE = "#{==:#{alternate_on},0}";

/**
 * A shell's line editor reads in raw mode; between two commands the tty is in cooked mode until
 * the editor is back (tcsh prints its prompt even before that). Typed ahead in that moment, the
 * tty's cooked mode takes over: its literal-next eats the ^V before a TAB (tcsh's editor then
 * completes on the TAB), and it keeps at most 4095 bytes of a line. POSIX lines travel in pieces
 * of 900 bytes; fish and csh lines are one physical line, and a longer one would arrive cut (tcsh
 * refuses it: NOT_STARTED; fish waits for the rest of an open quote). For those lines, wait for
 * the prompt to show at the cursor and output to pause.
 */
const COOKED_LINE = 3000;

async function editorReady(s: Session): Promise<void> {
  await s.waitUntil(
    () =>
      s.stream.end > s.promptFrom && Date.now() - s.stream.lastRecvAt >= 50 && s.screen().kind === "prompt"
        ? true
        : undefined,
    2000,
    10,
  );
}

/** Whether a shell prompt shows once output pauses (after a shell's error, its prompt follows). */
async function atPromptSoon(s: Session): Promise<boolean> {
  const settled = await s.waitUntil(
    () => (Date.now() - s.stream.lastRecvAt >= 40 && s.screen().shellLike ? true : undefined),
    Math.max(1000, s.idleMs),
    20,
  );
  return settled === true;
}

function notStartedError(s: Session, cmd: TrackedCommand): SshMcpError {
  const tail = lastLines(
    cleanOutput(s.stream.slice(Math.max(cmd.capture.streamStart, s.stream.end - 4000))),
    6,
  );
  return new SshMcpError(
    "NOT_STARTED",
    `The command did not start (${cmd.notStarted ?? "no begin mark"}); nothing of it ran. Screen tail:\n${tail || "(nothing)"}\n` +
      `Look with get_screen: if a shell prompt is there, call execute_command again (the shell is probed anew); otherwise answer or leave the program on screen with send_text/send_keys.`,
    { command_id: cmd.result.command_id, screen_tail: tail, shell: s.shell },
  );
}

/**
 * Checks the screen before execute_command types, and finds the shell when it is not known.
 * Returns the family to wrap the command for, or undefined to type it as-is (no shell answers
 * there: a menu, a REPL, a device CLI). Throws SCREEN_BUSY (nothing typed) when a program that
 * is not a shell prompt holds the terminal.
 */
async function prepareInput(
  host: SessionHost,
  s: Session,
  marked: boolean,
  beforeProbe: () => Promise<void>,
): Promise<Family | undefined> {
  let screen = s.screen();
  if (screen.kind !== "prompt") {
    // Input that just went in (keys, a send_text without wait) may still be changing the screen:
    // judge it once it is still, and from what tmux renders (the stream's tail says little
    // after a full-screen program drew with cursor moves).
    const pause = Math.max(150, Math.min(s.idleMs, 500));
    await s.waitUntil(
      () => (Date.now() - Math.max(s.stream.lastRecvAt, s.lastInputAt) >= pause ? true : undefined),
      Math.max(2000, 4 * pause),
      25,
    );
    screen = s.screen();
    if (screen.kind !== "prompt") screen = await renderedScreen(host, s);
  }
  const known = s.shell.ready && s.shell.family !== "other" && s.shell.family !== "unknown";
  // Where a shell is known, a line that is not its prompt is a program reading input. Where
  // none is, only a line worth a probe may be typed at, or a program already found to be no
  // shell (`other`). Typed as-is (wait_for_prompt=false), only the busy kinds are refused.
  const reading = screen.kind === "text" && (known || (s.shell.family !== "other" && !screen.probeWorthy));
  if (isBusy(screen.kind) || (marked && reading)) {
    s.writer.write("event", { event: "screen_busy", kind: screen.kind, line: redactValues(screen.line) });
    throw new SshMcpError(
      "SCREEN_BUSY",
      `Not typed: the terminal is not at a shell prompt (${describeKind(screen.kind)}: '${redactValues(screen.line).slice(0, 120)}'). ${howToLeave(screen.kind)} Then call execute_command again.`,
      { screen_kind: screen.kind, line: redactValues(screen.line) },
    );
  }
  if (!marked || screen.kind === "repl") return undefined;
  if (known) {
    // Our shell's own prompt, or one shaped like it (same prompt character and a space: a `cd`
    // changed it). Another prompt-shaped line is a program asking (`Target dir > `), unless what
    // was typed last may have started a shell (`ssh host`, `sudo -i`, `zsh`): then probe it.
    if (screen.known || sameShape(screen.cursor ?? "", s.knownPrompt)) return s.shell.family as Family;
    if (screen.shellLike && entersShell(s.lastTyped)) {
      // A probe is typed without the fast path's check inside tmux: the full check first.
      await beforeProbe();
      return (await probeNow(host, s)) ? (s.shell.family as Family) : undefined;
    }
    s.writer.write("event", { event: "screen_busy", kind: "text", line: redactValues(screen.line) });
    throw new SshMcpError(
      "SCREEN_BUSY",
      `Not typed: '${redactValues(screen.line).slice(0, 120)}' is not the prompt of the shell here (${s.shell.name ?? s.shell.family}, '${s.knownPrompt ?? ""}'): a program may be asking for input. ${howToLeave("text")} If it is another shell's prompt, start a shell there by name with send_text (e.g. 'bash' or 'sh'): the next execute_command then finds it.`,
      { screen_kind: "text", line: redactValues(screen.line) },
    );
  }
  if (!screen.probeWorthy) return undefined;
  // A program that answered no probe on this very line (a device CLI) is not probed again.
  if (s.shell.family === "other" && s.otherLine === screen.line) return undefined;
  await beforeProbe();
  return (await probeNow(host, s)) ? (s.shell.family as Family) : undefined;
}

function describeKind(kind: string): string {
  return kind === "text"
    ? "a program is reading input"
    : kind === "other"
      ? "a full-screen program"
      : `a ${kind}`;
}

/** The screen as tmux renders it (for full-screen programs, whose stream tail says little). */
async function renderedScreen(host: SessionHost, s: Session) {
  const info = await host.tmux.paneInfo(s.paneId);
  if (info) s.altScreen = info.alternate;
  // Some history too: a long typed line wraps over more rows than the screen has.
  const text = await host.tmux.capture(s.paneId, { start: -200 }).catch(() => "");
  // Rows below the last written one are blank; the capture joins wrapped rows, so where the
  // cursor is tells only whether it sits at the start of a fresh line (then that line is the
  // cursor's, and empty) or on the last written one.
  const written = text.replace(/\s+$/, "");
  // tmux drops trailing blanks: the cursor's column gives back the space after a prompt.
  const last = written.slice(written.lastIndexOf("\n") + 1);
  const visible =
    info && info.cursorX === 0
      ? written + "\n"
      : written + " ".repeat(Math.max(0, (info?.cursorX ?? 0) - last.length));
  return classifyScreen(s.altScreen ? text : visible, {
    alternate: s.altScreen,
    prompt: s.prompt,
    knownPrompt: s.knownPrompt,
  });
}

/**
 * Finds out which shell family listens at the prompt (shells.ts) and installs its helpers.
 * False when nothing answered (the shell is then "other": commands are typed as-is).
 */
/**
 * Lets a session probe the shell a running command may have entered (Session.checkFallbacks):
 * when it answers, the command completes as "prompt" with its output up to the probe, and the
 * session's shell is the new one. When nothing answers, the command goes on running and the
 * session's shell stays what it was.
 */
export function watchNestedShells(host: SessionHost, s: Session): void {
  s.nestedProbe = async (cmd) => {
    const stop = s.stream.end;
    try {
      const ok = await probeShell(host, s, cmd.result.command_id, { keepOnFailure: true });
      if (ok && cmd.result.status === "running") {
        s.finishAt(cmd, stop, "prompt");
        cmd.result = { ...cmd.result, shell: s.shell.name ?? s.shell.family };
      }
    } catch (err) {
      host.logger.warn("nested shell probe failed", { session_id: s.id, error: String(err) });
    } finally {
      cmd.probing = false;
      cmd.probedAt = s.stream.end;
    }
  };
}

export function probeShell(
  host: SessionHost,
  s: Session,
  commandId?: string,
  opts: { keepOnFailure?: boolean } = {},
): Promise<boolean> {
  return s.exclusive(() => probeNow(host, s, commandId, opts));
}

/** probeShell inside a section that already has the session to itself. */
async function probeNow(
  host: SessionHost,
  s: Session,
  commandId?: string,
  opts: { keepOnFailure?: boolean } = {},
): Promise<boolean> {
  const about = commandId ? { command_id: commandId } : {};
  const atLine = s.screen().line;
  const probeNonce = randomBytes(8).toString("hex");
  const probe = await askShell(host, s, probeLine(probeNonce), probeNonce, (t) => parseProbe(t, probeNonce));
  if (!probe.value) {
    if (opts.keepOnFailure) {
      s.writer.write("event", { event: "probe_unanswered", ...about });
      return false;
    }
    s.shell = { family: "other", name: null, ready: false };
    // Remembered only when something other than the echo answered: a shell merely slow to read
    // the probe (a slow prompt hook, a loaded link) is probed again next time.
    s.otherLine = probe.heard ? atLine : null;
    s.writer.write("event", { event: "shell", family: "other", name: null, ...about });
    return false;
  }
  const family = probe.value;
  const nonce = randomBytes(8).toString("hex");
  const installed = await askShell(host, s, installLine(family, nonce), nonce, (t) =>
    parseInstall(t, family, nonce),
  );
  if (!installed.value) {
    s.shell = { family, name: null, ready: false };
    s.writer.write("event", { event: "shell", family, name: null, installed: false, ...about });
    return false;
  }
  s.shell = { family, name: installed.value, ready: true };
  s.promptAt(installed.at);
  s.writer.write("event", { event: "shell", family, name: installed.value, ...about });
  return true;
}

/**
 * Types one line of a probe (recorded as tool "probe") and waits for the shell's answer, marked
 * with `nonce`. `value`: the parsed answer, undefined when none came; `at`: the stream offset just
 * past the answer (the prompt that follows is the shell's); `heard`: something other than the
 * echo answered before the wait ran out.
 */
async function askShell<T>(
  host: SessionHost,
  s: Session,
  line: string,
  nonce: string,
  parse: (text: string) => T | undefined,
): Promise<{ value: T | undefined; at: number; heard: boolean }> {
  const enter = enterOf(s);
  const quietMs = Math.max(200, Math.min(s.idleMs, 500));
  const start = s.stream.end;
  const sentAt = Date.now();
  s.writer.mustWrite("send", { tool: "probe", text: line + enter, actor: "agent", keys_before: ["C-u"] });
  await host.tmux.sendCommands(literalCommands(s.paneId, line + enter, ["C-u"]));
  let at = start;
  const answer = await s.waitUntil<{ v: T | null }>(
    () => {
      const text = s.stream.slice(start);
      const v = parse(text);
      if (v !== undefined) {
        // Just past the answer's mark: the prompt that follows it is the shell's.
        const mark = text.indexOf(`sshmcp=${nonce};`);
        const bel = mark === -1 ? -1 : text.indexOf("\x07", mark);
        at = bel === -1 ? s.stream.end : start + bel + 1;
        return { v };
      }
      // No answer once something other than our own echo came and then quiet (a shell still
      // busy before reading the line, e.g. a slow prompt, has said nothing after the echo).
      const end = echoEnd(text, nonce);
      const after = end === -1 ? text : text.slice(end);
      const quiet = Date.now() - Math.max(sentAt, s.stream.lastRecvAt);
      return cleanOutput(after).trim() !== "" && quiet >= quietMs ? { v: null } : undefined;
    },
    Math.max(3000, 4 * quietMs),
    25,
  );
  // undefined: the wait ran out with no answer and nothing else said after the echo either.
  return { value: answer?.v ?? undefined, at, heard: answer !== undefined };
}

/** Records that the input of a just-recorded send never reached the pane. */
function notSent(
  s: Session,
  cmd?: TrackedCommand,
  reason = "the window changed before the send (lock, owner, exit or a full-screen program); checked again",
): void {
  s.writer.write("event", {
    event: "not_sent",
    reason,
    ...(cmd ? { command_id: cmd.result.command_id } : {}),
  });
  if (cmd) s.finish(cmd, "failed", "timeout", null, "");
}

/**
 * Waits until the command completes, or its screen has settled on a question for the user (a
 * password, a yes/no, a pager, an editor, a REPL): execute_command then returns at once with
 * `state: "awaiting_input"` instead of waiting out its timeout.
 */
async function waitForCompletion(host: SessionHost, s: Session, cmd: TrackedCommand, timeoutMs: number) {
  const stableMs = Math.max(150, Math.min(s.idleMs, 500));
  const done = await s.waitUntil(() => {
    if (cmd.result.status !== "running") return true;
    // Recording stopped and cannot resume (disk full): say so now, not after the timeout.
    if (s.recordingError) return true;
    return inputWait(s, cmd, stableMs) ? true : undefined;
  }, timeoutMs);
  if (cmd.result.status === "running" && s.recordingError) {
    throw new SshMcpError(
      "TRANSCRIPT_UNAVAILABLE",
      `Command ${cmd.result.command_id} was typed and may still run, but its output is no longer recorded (${s.recordingError}): no further input goes in until the transcript can be written. Free space or fix the runtime directory; recording resumes by itself with a gap event, then get_command tells what is known (docs/audit.md).`,
      { command_id: cmd.result.command_id },
    );
  }
  if (!done && cmd.result.status === "running") {
    cmd.result = { ...cmd.result, timed_out: true };
    s.writer.write("command_timeout", { command_id: cmd.result.command_id, timeout_ms: timeoutMs });
  }
  if (cmd.result.status === "running" && s.altScreen) {
    const rendered = await renderedScreen(host, s);
    cmd.waiting = {
      input_kind: rendered.kind === "prompt" || rendered.kind === "text" ? "other" : rendered.kind,
      // What a full-screen program shows may hold a secret: redacted like every other prompt.
      prompt: redactValues(rendered.line),
    };
  }
}

/** A running command's wait for input, when its screen has been still for `stableMs` on one. */
function inputWait(s: Session, cmd: TrackedCommand, stableMs: number): TrackedCommand["waiting"] {
  cmd.waiting = undefined;
  if (cmd.result.status !== "running" || s.active !== cmd) return undefined;
  if (cmd.capture.awaitingBegin) return undefined;
  if (Date.now() - Math.max(s.stream.lastRecvAt, cmd.sentAt) < stableMs) return undefined;
  const screen = s.screen();
  // A bare `>` while a command runs is no continuation of the (busy) shell: a REPL such as node.
  if (screen.kind === "text" && screen.line === ">" && screen.cursor?.startsWith(">"))
    return (cmd.waiting = { input_kind: "repl", prompt: ">" });
  if (screen.kind === "prompt" || screen.kind === "text") return undefined;
  cmd.waiting = { input_kind: screen.kind, prompt: redactValues(screen.line) };
  return cmd.waiting;
}

/** A command's result as tools return it: output capped, and what a running one waits for. */
export function resultFor(host: SessionHost, s: Session, cmd: TrackedCommand): CommandResult {
  const { output, truncated } = s.cappedOutput(cmd, host.config.resultOutputChars);
  return withState(s, cmd, { ...cmd.result, output, output_truncated: truncated });
}

/** Adds what a running command waits for, and the shell, to a result. */
function withState(s: Session, cmd: TrackedCommand, r: CommandResult): CommandResult {
  const out: CommandResult = { ...r, shell: r.shell ?? s.shell.name ?? s.shell.family };
  if (r.status === "running") {
    const w = cmd.waiting ?? inputWait(s, cmd, Math.max(150, Math.min(s.idleMs, 500)));
    if (w) return { ...out, state: "awaiting_input", input_kind: w.input_kind, prompt: w.prompt };
  }
  return out;
}

export function findCommand(s: Session, commandId: string): TrackedCommand {
  const c = s.commands.get(commandId);
  if (!c) {
    throw new SshMcpError(
      "UNKNOWN_COMMAND",
      `Unknown command_id '${commandId}' in session '${s.id}'. Call list_commands to see its commands.`,
    );
  }
  return c;
}

/** get_command, on a session granted "read". */
export function getCommand(
  s: Session,
  commandId: string,
  outputLimit: number | undefined,
  outputOffset: number,
): { command: CommandResult; output_total_chars: number; next_offset: number | null } {
  const cmd = findCommand(s, commandId);
  const full = s.currentOutput(cmd);
  let output: string;
  let next: number | null = null;
  let truncated = false;
  if (outputLimit !== undefined) {
    output = outputLimit === 0 ? "" : tailWithin(full.slice(-outputLimit), PAGE_BUDGET).text;
    truncated = output.length < full.length;
  } else if (outputOffset === 0 && replySize(full) <= PAGE_BUDGET) {
    output = full;
  } else {
    const page = pageOutput(full, outputOffset, PAGE_BUDGET);
    output = page.output;
    next = page.nextOffset;
    truncated = output.length < full.length;
  }
  return {
    command: withState(s, cmd, { ...cmd.result, output, output_truncated: truncated }),
    output_total_chars: full.length,
    next_offset: next,
  };
}

/** list_commands, on a session granted "read". */
export function listCommands(s: Session): CommandResult[] {
  return [...s.commands.values()].map((c) =>
    withState(s, c, { ...c.result, output: "", output_truncated: false }),
  );
}

/** interrupt (and cancel_command's Ctrl+C), on a session granted "drive". */
export async function interrupt(host: SessionHost, s: Session, tool = "interrupt"): Promise<Session> {
  s.writer.mustWrite("send", { tool, keys: ["C-c"], text: "\u0003", actor: "agent" });
  await s.exclusive(async () => {
    s.otherInput("typed");
    await host.tmux.sendKeys(s.paneId, ["C-c"]);
  });
  const cmd = s.active;
  const sentAt = Date.now();
  // Give the shell a moment to print its marker (some do after SIGINT) and its next prompt.
  await s.waitUntil(() => {
    if (cmd && cmd.result.status !== "running") return true;
    return Date.now() - Math.max(sentAt, s.stream.lastRecvAt) >= 200 && s.stream.lastRecvAt >= sentAt
      ? true
      : undefined;
  }, 2000);
  if (cmd && cmd.result.status === "running") {
    // A full-screen program (vi, less, top) ignores Ctrl+C: it still owns the terminal, so the
    // command stays tracked rather than letting the next command be typed into it.
    const info = await host.tmux.paneInfo(s.paneId);
    if (!info?.alternate) s.finish(cmd, "cancelled", "timeout", null);
  }
  return s;
}

/**
 * cancel_command, on a session granted "read": Ctrl+C (after the full check, "drive") when the
 * command is the one running; only marked otherwise.
 */
export async function cancelCommand(
  host: SessionHost,
  s: Session,
  commandId: string,
  access: AccessOptions = {},
): Promise<CommandResult> {
  const cmd = findCommand(s, commandId);
  if (cmd.result.status === "running") {
    if (s.status !== "open") s.finish(cmd, "session_closed", "timeout", null);
    else if (s.active === cmd)
      await interrupt(host, await host.access(s.id, "drive", access), "cancel_command");
    else s.finish(cmd, "cancelled", "timeout", null);
  }
  return resultFor(host, s, cmd);
}

export interface SendTextOptions extends AccessOptions {
  text: string;
  enter: boolean;
  waitFor: string;
  regex: boolean;
  timeoutMs: number;
  sensitive: boolean;
  /** Who approves text matching the profile's confirm_patterns at a shell prompt (approval.ts). */
  asker?: Asker;
}

/** send_text, on a session granted "send" (a secret always takes the full check). */
export async function sendText(
  host: SessionHost,
  target: SendTarget,
  o: SendTextOptions,
): Promise<{ output: string; matched: string | null; timed_out: boolean }> {
  // A secret is pasted (load-buffer), never typed through the fast path's one message.
  const t = o.sensitive ? await fullCheck(host, target, o) : target;
  const matcher = o.waitFor ? (o.regex ? compileRegex(o.waitFor, "wait_for") : undefined) : undefined;
  const enter = o.enter ? enterOf(t.session) : "";
  if (!o.text && !enter)
    throw new SshMcpError("INVALID_ARGUMENT", "text: empty text with enter=false sends nothing.");
  if (t.session.profile.confirm_patterns) await approveText(host, t.session, o, enter);
  const sent = await checkedSend(host, t, o, (kb) => typeText(host, kb, o, enter));
  try {
    return await awaitReply(host, sent.target.session, o, matcher, sent.value);
  } finally {
    sent.value.release();
  }
}

/**
 * What a confirm_patterns check reads of a line being run: the typed text alone when a pattern
 * matches it (an anchored `^rm` sees the command, not the prompt before it), else the cursor's
 * line with the text after it (the text ends a line typed in pieces), the known prompt taken
 * off it first.
 */
function lineRun(s: Session, cursor: string, typed: string): string {
  const known = s.knownPrompt?.trimEnd();
  const afterPrompt = known && cursor.startsWith(known) ? cursor.slice(known.length).trimStart() : cursor;
  const candidates = [typed, afterPrompt + typed, cursor + typed];
  return candidates.find((c) => confirmPattern(s.profile, c) !== undefined) ?? typed;
}

/**
 * send_text under confirm_patterns: a line it ends (Enter, or a line break in the text) is asked
 * about whatever the screen shows (a root shell after `sudo -i`, another host's shell, a command
 * still running that would read it as typeahead are not "our" prompt, and are where it matters),
 * matched with what is already typed on the cursor's line (a line typed in pieces). Sensitive
 * text, which is never shown, only at a password prompt.
 */
async function approveText(host: SessionHost, s: Session, o: SendTextOptions, enter: string): Promise<void> {
  const sc = s.screen();
  if (o.sensitive) {
    if (sc.kind !== "password")
      throw new SshMcpError(
        "NO_PASSWORD_PROMPT",
        `Nothing was typed: profile '${s.profile.name}' has confirm_patterns, and sensitive text (never shown to the human) is typed there only at a password prompt. Send commands without sensitive.`,
        { screen: redactText(sc.line).slice(-200) },
      );
    return;
  }
  if (!enter && !/[\r\n]/.test(o.text)) return; // nothing runs yet: the Enter that ends it is asked about
  await requireApproval(host, s, "send_text", lineRun(s, sc.cursor ?? "", o.text), o.asker);
}

/** What a secret's prompt must match: a RegExp, or an RE2 pattern with the same two members. */
export type PromptMatcher = Pick<RegExp, "test" | "source">;

/** A secret to type at a password prompt (send_secret, ask_human_secret). */
export interface SecretTyping extends AccessOptions {
  /** The value: never recorded, returned, logged or put in any argv (pasted through tmux's stdin). */
  value: string;
  /** What the transcript records instead of the value, e.g. `[SECRET:sudo]`. */
  shown: string;
  tool: string;
  actor: "agent" | "human";
  /** The prompt must also match this (a profile secret's `prompt`, RE2: see secrets.ts). */
  prompt?: PromptMatcher;
  /** Enter after the value (default true). */
  enter?: boolean;
}

/**
 * Where a secret may be typed: the screen's last line is a password prompt (no-echo by its words:
 * `Password:`, `[sudo] password for x:`, a passphrase, a PIN), matching `prompt` when given, the
 * cursor on that line right after it, and no input since the prompt was printed (nothing queued
 * that the no-echo prompt hides). Returns why not, or undefined when it may be typed.
 */
export function secretPromptRefusal(s: Session, prompt?: PromptMatcher): string | undefined {
  if (s.status !== "open") return `the session is ${s.status}`;
  const sc = s.screen();
  if (sc.kind !== "password")
    return `the screen shows no password prompt (last line: ${JSON.stringify(redactText(sc.line).slice(-120))})`;
  if (prompt && !prompt.test(sc.line))
    return `the password prompt ${JSON.stringify(redactText(sc.line).slice(-120))} does not match this secret's prompt (${prompt.source})`;
  if ((sc.cursor ?? "").trimEnd() !== sc.line.trimEnd())
    return "the cursor is not right after the password prompt";
  if (s.lastInputAt >= s.stream.lastRecvAt)
    return "input was typed after the prompt appeared (it may already hold an answer)";
  return undefined;
}

/**
 * Types a secret at the password prompt on screen (send_secret, ask_human_secret), on a session
 * granted "send": the full check (never the fast path), the profile's policy (a secret only at
 * a password prompt), then, alone on the session (Session.exclusive) and only if the prompt is
 * still there, a `send` event with `shown` (never the value), the value pasted through tmux's
 * stdin (load-buffer) and Enter. Refuses with NO_PASSWORD_PROMPT and types nothing otherwise.
 */
export async function typeSecret(host: SessionHost, target: SendTarget, o: SecretTyping): Promise<void> {
  const { session: s } = await fullCheck(host, target, o);
  const refuse = (why: string): never => {
    throw new SshMcpError(
      "NO_PASSWORD_PROMPT",
      `Nothing was typed: ${why}. Run the command that asks (e.g. sudo) first; get_screen shows the prompt, then call again.`,
      { screen: redactText(s.screen().line).slice(-200) },
    );
  };
  const early = secretPromptRefusal(s, o.prompt);
  if (early) refuse(early);
  if (s.profile.security.mode !== "unrestricted") await shellParserReady();
  enforce(s, o.tool, checkText(s.profile, o.value, true, inputContext(s), o.enter ?? true), o.shown);
  const enter = (o.enter ?? true) ? enterOf(s) : "";
  await s.exclusive(async () => {
    // Checked again alone on the session: the screen may have changed while we waited.
    const late = secretPromptRefusal(s, o.prompt);
    if (late) refuse(late);
    s.writer.mustWrite("send", { tool: o.tool, text: o.shown, actor: o.actor, sensitive: true });
    s.otherInput("typed", undefined);
    await host.tmux.pasteText(s.paneId, o.value);
    if (enter) await host.tmux.sendLiteral(s.paneId, enter);
  });
}

/** Text typed by send_text: where its output starts (pinned in the stream until released). */
interface Typed {
  start: number;
  sentAt: number;
  release: () => void;
}

/** One attempt at send_text's typing: the policy, then recorded and typed alone (Session.exclusive). */
async function typeText(
  host: SessionHost,
  kb: Keyboard,
  o: SendTextOptions,
  enter: string,
): Promise<Typed | typeof NOT_SENT> {
  const { s } = kb;
  // Only a readonly/restricted policy looks at the screen: read lazily, off the hot path.
  if (s.profile.security.mode !== "unrestricted") await shellParserReady();
  enforce(
    s,
    "send_text",
    checkText(s.profile, o.text, o.sensitive, inputContext(s), o.enter),
    o.sensitive ? "[REDACTED]" : o.text,
  );
  const keys = o.sensitive ? [] : literalCommands(s.paneId, o.text + enter);
  let start = s.stream.end;
  let release = s.stream.pin(start);
  try {
    // Typed alone: never between a probe's two lines or inside a command's.
    const sentAt = await s.exclusive(async (): Promise<number | typeof NOT_SENT> => {
      release();
      start = s.stream.end;
      release = s.stream.pin(start);
      s.writer.mustWrite("send", {
        tool: "send_text",
        text: o.sensitive ? "[REDACTED]" : o.text + enter,
        actor: "agent",
        ...(o.sensitive ? { sensitive: true } : {}),
      });
      const at = Date.now();
      s.otherInput("typed", o.sensitive ? undefined : o.text);
      if (o.sensitive) {
        // Never on a command line: secrets go to tmux through stdin (load-buffer) and are pasted.
        await host.tmux.pasteText(s.paneId, o.text);
        if (enter) await host.tmux.sendLiteral(s.paneId, enter);
      } else if (!(await kb.type(keys))) {
        notSent(s);
        return NOT_SENT;
      }
      return at;
    });
    if (sentAt === NOT_SENT) release();
    return sentAt === NOT_SENT ? NOT_SENT : { start, sentAt, release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * send_text's wait: for `wait_for` in what the other side says (not the echo of what was typed:
 * when the typed text itself would match, matching starts after its echo), or for output to go
 * quiet. Returns the output since the text went in (a secret masked), capped.
 */
async function awaitReply(
  host: SessionHost,
  s: Session,
  o: SendTextOptions,
  matcher: Matcher | undefined,
  typed: Typed,
): Promise<{ output: string; matched: string | null; timed_out: boolean }> {
  const { start, sentAt } = typed;
  const { idleMs } = host.config.timing;
  const echoCouldMatch =
    Boolean(o.waitFor) && !o.sensitive && (matcher ? matcher.test(o.text) : o.text.includes(o.waitFor));
  const echo = echoCouldMatch ? lastNonEmptyLine(o.text) : undefined;
  let matchFrom: number | undefined = echo ? undefined : start;
  let matched: string | null = null;
  let matchedTo = -1;
  const done = await s.waitUntil(() => {
    if (s.status !== "open") return true;
    if (matchFrom === undefined && echo) {
      const window = s.stream.slice(start, start + echo.length + 4096);
      const i = window.indexOf(echo);
      if (i !== -1) matchFrom = start + i + echo.length;
      else if (
        s.stream.end - start > echo.length + 4096 ||
        Date.now() - Math.max(sentAt, s.stream.lastRecvAt) >= idleMs
      ) {
        matchFrom = start; // no verbatim echo (echo off, or redrawn): match everything
      }
    }
    if (o.waitFor) {
      if (matchFrom === undefined) return undefined;
      // Matched again only when output came, and only over the recent window, so a flood of
      // output costs linear time overall.
      if (s.stream.end === matchedTo) return undefined;
      matchedTo = s.stream.end;
      const text = cleanOutput(s.stream.slice(Math.max(matchFrom, s.stream.end - 64 * 1024)));
      if (matcher) matched = matcher.exec(text);
      else if (text.includes(o.waitFor)) matched = o.waitFor;
      return matched !== null ? true : undefined;
    }
    return Date.now() - Math.max(sentAt, s.stream.lastRecvAt) >= idleMs ? true : undefined;
  }, o.timeoutMs);
  let output = cleanOutput(s.stream.slice(start));
  if (o.sensitive && o.text) output = output.split(o.text).join("[REDACTED]");
  const cap = host.config.resultOutputChars;
  const capped = output.length > cap ? output.slice(-cap) : output;
  return { output: capped, matched, timed_out: !done || (Boolean(o.waitFor) && matched === null) };
}

function lastNonEmptyLine(text: string): string | undefined {
  const line = text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter(Boolean)
    .pop();
  // Long lines wrap and get redrawn by readline; a short tail of the line still shows verbatim.
  return line ? line.slice(-40) : undefined;
}

/** Key names tmux understands, with optional C-/M-/S- modifiers, or one printable character. */
const KEY_RE =
  /^(?:(?:C-|M-|S-)*(?:Up|Down|Left|Right|Home|End|PageUp|PageDown|PgUp|PgDn|PPage|NPage|Tab|BTab|BSpace|Enter|Escape|Space|DC|IC|Insert|Delete|F(?:[1-9]|1[0-2])|[\x21-\x7e]))$/;

/** send_keys' argument check, before any lookup: INVALID_ARGUMENT names the first bad key. */
export function checkKeyNames(keys: string[]): void {
  keys.forEach((k, i) => {
    if (!KEY_RE.test(k)) {
      throw new SshMcpError(
        "INVALID_ARGUMENT",
        `keys[${i}]: '${k.slice(0, 40)}' is not a tmux key name. Use names like C-c, C-d, Up, Down, Tab, Enter, Escape, F1, or a single character; send text with send_text.`,
      );
    }
  });
}

/** Keys that end (run) a line: any Enter, C-m, C-j, and bash's C-o (run, then fetch the next). */
const LINE_END_KEY = /^(?:[CMS]-)*(?:Enter|KPEnter)$|^C-[mjo]$/;
/** Keys that change the line out of sight (history, completion, search, yank, Meta editing). */
const LINE_CHANGING_KEY = /^(?:Up|Down|PageUp|PageDown|PgUp|PgDn|PPage|NPage|Tab|BTab|C-[pnrsyt]|M-.*)$/;

/**
 * send_keys under confirm_patterns: keys that end a line (wherever they are in the call, and
 * whatever the screen shows) run the cursor's line plus the characters typed before them, which
 * is what is asked about. Keys that change the line out of sight (Up, Tab, C-r...) together
 * with a line end are refused: the line they run cannot be known. Send them first, then the
 * Enter alone, which is asked about with the line then on screen.
 */
async function approveKeys(host: SessionHost, s: Session, keys: string[], asker?: Asker): Promise<void> {
  if (!keys.some((k) => LINE_END_KEY.test(k))) return;
  const hidden = keys.find((k) => LINE_CHANGING_KEY.test(k));
  if (hidden)
    enforce(
      s,
      "send_keys",
      {
        allowed: false,
        rule: `confirm_patterns: '${hidden}' changes the line out of sight and a later key runs it; send '${hidden}' first, then Enter alone`,
      },
      keys.join(" "),
    );
  const typed = keys.map((k) => (k === "Space" ? " " : k.length === 1 ? k : "\n")).join("");
  await requireApproval(host, s, "send_keys", lineRun(s, s.screen().cursor ?? "", typed), asker);
}

/** send_keys, on a session granted "drive" (the key names checked first: checkKeyNames). */
export async function sendKeys(
  host: SessionHost,
  s: Session,
  keys: string[],
  asker?: Asker,
): Promise<string[]> {
  if (s.profile.security.mode !== "unrestricted") await shellParserReady();
  enforce(s, "send_keys", checkKeys(s.profile, keys, inputContext(s)), keys.join(" "));
  if (s.profile.confirm_patterns) await approveKeys(host, s, keys, asker);
  await s.exclusive(async () => {
    s.writer.mustWrite("send", { tool: "send_keys", text: keys.join(" "), keys, actor: "agent" });
    s.otherInput("typed");
    await host.tmux.sendKeys(s.paneId, keys);
  });
  return keys;
}

/**
 * The human's typing in the viewer (POST /api/sessions/:id/input), through the same checks as
 * every input: the session must take input from the human ("drive" as actor human), who must
 * hold its input lock (INPUT_LOCKED otherwise); the profile's policy judges what is typed
 * (POLICY_BLOCKED, recorded); it is recorded as a `send` of actor human (redacted as the
 * transcript redacts output), then typed. Returns how many characters went in.
 */
export async function typeAsHuman(host: SessionHost, sessionId: string, data: string): Promise<number> {
  const s = await host.access(sessionId, "drive", { actor: "human" });
  const lock = activeLock((await host.tmux.paneInfo(s.paneId))?.lock);
  if (!lock || lock.actor !== "human") {
    throw new SshMcpError(
      "INPUT_LOCKED",
      "Take the input lock first (POST /lock {action: acquire}); the page is read-only by default.",
    );
  }
  if (s.profile.security.mode !== "unrestricted") {
    await shellParserReady();
    const verdict = checkTyped(s.profile, data, inputContext(s));
    if (!verdict.allowed) {
      s.writer.write("security_block", {
        tool: "viewer",
        actor: "human",
        rule: verdict.rule,
        mode: s.profile.security.mode,
      });
      throw new SshMcpError(
        "POLICY_BLOCKED",
        `Refused by profile '${s.profile.name}' security policy (${verdict.rule}). Nothing was sent.`,
        { rule: verdict.rule },
      );
    }
  }
  await s.exclusive(async () => {
    // Recorded as the transcript records output: redacted if the profile redacts.
    const recorded = s.profile.security.redact_transcripts ? redactText(data) : data;
    s.writer.mustWrite("send", { tool: "viewer", text: recorded, actor: "human" });
    s.otherInput("typed", data);
    await host.tmux.sendLiteral(s.paneId, data);
  });
  return data.length;
}

/** get_screen, on a session granted "observe". */
export async function getScreen(host: SessionHost, s: ReadTarget, lines: number, ansi: boolean) {
  if (s.status === "closed" && !(await host.tmux.paneInfo(s.paneId))) {
    throw new SshMcpError(
      "SESSION_CLOSED",
      `Session '${s.id}' is closed and its pane is gone. Read what happened with get_transcript.`,
    );
  }
  const info = await host.tmux.paneInfo(s.paneId);
  const height = info?.height ?? s.profile.height;
  const raw = await host.tmux.capture(s.paneId, { start: -Math.max(0, lines - height), ansi });
  const all = raw.replace(/\n$/, "").split("\n");
  const visibleStart = Math.max(0, all.length - height);
  let rows = all.map((l) => l.replace(/\s+$/, ""));
  while (
    rows.length > 1 &&
    rows[rows.length - 1] === "" &&
    rows.length - 1 > visibleStart + (info?.cursorY ?? 0)
  )
    rows.pop();
  rows = rows.slice(-lines);
  const joined = rows.join("\n");
  const screen = tailWithin(s.redact ? redactValues(joined) : joined, PAGE_BUDGET);
  const shell = host.known(s.id)?.shell;
  return {
    screen: screen.text,
    truncated: screen.truncated,
    width: info?.width ?? s.profile.width,
    height,
    cursor: { x: info?.cursorX ?? 0, y: info?.cursorY ?? 0 },
    alternate_screen: info?.alternate ?? false,
    shell: shell?.name ?? shell?.family ?? null,
    status: s.status,
  };
}

/**
 * get_transcript, on a session granted "observe": the last `tail` transcript events, dropping
 * the oldest if the reply would grow too large.
 */
export function getTranscript(s: ReadTarget, tail: number) {
  const stats = { skipped: 0 };
  const events = tailEvents(s.transcriptPath, tail, undefined, stats);
  let size = 0;
  let keepFrom = events.length;
  while (keepFrom > 0) {
    const ev = events[keepFrom - 1] as TranscriptEvent;
    const n = replySize(JSON.stringify(ev));
    if (size + n > PAGE_BUDGET) break;
    size += n;
    keepFrom--;
  }
  return {
    transcript_path: s.transcriptPath,
    events: events.slice(keepFrom),
    truncated: keepFrom > 0,
    // Lines that are not JSON (torn by a failed write): skipped, and said so (docs/audit.md).
    ...(stats.skipped ? { skipped_lines: stats.skipped } : {}),
  };
}

/**
 * get_command's `wait`, on a session granted "read": returns as soon as the command is no longer
 * running, waits for input (the same screens execute_command returns `awaiting_input` for), the
 * session stops being open, the call is cancelled (`signal`), or `waitMs` has passed. The
 * caller then reads the command as get_command always did. UNKNOWN_COMMAND before any wait.
 */
export async function waitForCommand(
  s: Session,
  commandId: string,
  waitMs: number,
  signal: AbortSignal,
): Promise<void> {
  const cmd = findCommand(s, commandId);
  if (waitMs <= 0) return;
  const stableMs = Math.max(150, Math.min(s.idleMs, 500));
  const wake = (): void => s.notify();
  signal.addEventListener("abort", wake);
  try {
    await s.waitUntil(() => {
      if (cmd.result.status !== "running" || s.status !== "open" || signal.aborted) return true;
      return inputWait(s, cmd, stableMs) ? true : undefined;
    }, waitMs);
  } finally {
    signal.removeEventListener("abort", wake);
  }
}

/** get_screen's `wait_for`: what to wait for on the screen, and for how long. */
export interface ScreenWait {
  waitFor: string;
  regex: boolean;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * get_screen with `wait_for`, on a session granted "observe": the screen (as get_screen returns
 * it, redacted when the profile redacts) is read again whenever the session prints (at most
 * every 100 ms, and at least every second; every 250 ms for another server's session, whose
 * output we do not follow) until the text or the regex (the same linear-time RE2 as send_text's
 * wait_for) is on it, the timeout passes, the session is no longer open or the call is
 * cancelled. `matched` is the match (read on the plain screen) or null; `timed_out` is true only
 * when the timeout passed without a match.
 */
export async function waitForScreen(
  host: SessionHost,
  s: ReadTarget,
  lines: number,
  ansi: boolean,
  w: ScreenWait,
) {
  const matcher = w.regex ? compileRegex(w.waitFor, "wait_for") : undefined;
  const match = (text: string): string | null =>
    matcher ? matcher.exec(text) : text.includes(w.waitFor) ? w.waitFor : null;
  const deadline = Date.now() + w.timeoutMs;
  const live = host.known(s.id);
  for (;;) {
    const screen = await getScreen(host, s, lines, false);
    const matched = match(screen.screen);
    const timedOut = matched === null && Date.now() >= deadline;
    if (matched !== null || timedOut || w.signal.aborted || screen.status !== "open") {
      const shown = ansi ? await getScreen(host, s, lines, true) : screen;
      return { ...shown, matched, timed_out: timedOut };
    }
    await nextLook(live, deadline, w.signal);
  }
}

/** Until the screen may have changed: our session printed (or 1 s passed), else 250 ms. */
async function nextLook(live: Session | undefined, deadline: number, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const left = (): number => Math.max(0, deadline - Date.now());
  if (live) {
    const end = live.stream.end;
    const wake = (): void => live.notify();
    signal.addEventListener("abort", wake);
    try {
      await live.waitUntil(
        () => (live.stream.end !== end || live.status !== "open" || signal.aborted ? true : undefined),
        Math.min(1000, left()),
        100,
      );
    } finally {
      signal.removeEventListener("abort", wake);
    }
  }
  // Under a flood of output, the screen is captured at most every 100 ms.
  const pause = Math.min((live ? 100 : 250) - (Date.now() - started), left());
  if (pause > 0 && !signal.aborted) await delay(pause, undefined, { signal }).catch(() => undefined);
}
