import type { Profile } from "../config/schema.js";
import { checkProgram, SAFE_VARS } from "./programs.js";
import { analyze, shellParserReady } from "./shell-parse.js";

export { shellParserReady };

/**
 * Command policy per profile (`security.mode`), one for every way input reaches a terminal
 * (execute_command, search_logs, send_text, send_keys, the viewer's typing, route steps),
 * checked before anything is typed (docs/security.md):
 * - unrestricted: anything (deny_patterns still apply);
 * - readonly: the line is parsed as the shell will (shell-parse.ts) and every simple command
 *   must be a program of the readonly table with options it allows (programs.ts); keys are
 *   checked against what the screen shows;
 * - restricted: every simple command must match one of allow_patterns.
 * It is a guard rail for an agent on a production host, not a sandbox: the remote account's
 * own permissions remain the real boundary.
 */
export interface Verdict {
  allowed: boolean;
  rule?: string;
}

/** The shell family that will read the line (session shell state). */
export type PolicyFamily = "posix" | "fish" | "csh" | "other" | "unknown";

/** What the screen shows, for checks of text and keys (read lazily, off the hot path). */
export interface ScreenView {
  kind: "prompt" | "password" | "confirm" | "pager" | "editor" | "repl" | "other" | "text";
  /** The last line. */
  line: string;
}

export interface InputContext {
  family: PolicyFamily;
  screen: () => ScreenView;
  /**
   * A command line is still running in the shell (a marked command without its end, or a line
   * typed at the prompt with no prompt since): text typed now may be read later by the shell.
   */
  running: () => boolean;
}

const ALLOWED: Verdict = { allowed: true };

function matchAny(patterns: string[], text: string): string | undefined {
  for (const p of patterns) {
    try {
      if (new RegExp(p).test(text)) return p;
    } catch {
      // validated at config load; an invalid one never matches
    }
  }
  return undefined;
}

/**
 * fish and csh quote differently from bash (fish reads `\'` inside '...', csh expands `!` inside
 * them): there the line may use only what means the same in all three.
 */
function familyRule(family: PolicyFamily, line: string): string | undefined {
  if (family === "posix") return undefined;
  if (family === "other") return "no known shell reads this line (a program of its own is at the prompt)";
  // `^` redirected stderr in fish before 3.3.
  if (/[$`\\(){}<>!^]/.test(line)) return `${family} shell: $ \` \\ ( ) { } < > ! ^ are refused there`;
  return undefined;
}

/** The readonly verdict for a command line. */
function readonlyLine(command: string, family: PolicyFamily): string | undefined {
  const fam = familyRule(family, command);
  if (fam) return fam;
  const a = analyze(command);
  if ("refused" in a) return a.refused;
  for (const c of a.commands) {
    for (const { name, value } of c.assignments) {
      if (!SAFE_VARS.test(name)) return `${name}= can make a command run another program`;
      if (value.expanded) return `${name}= with an expansion`;
    }
    if (!c.words.length) return "a bare assignment changes the shell";
    const why = checkProgram(c.words);
    if (why) return why;
  }
  return undefined;
}

/** Restricted: every simple command must match an allow pattern (`allowed; reboot` is not). */
function restrictedLine(command: string, family: PolicyFamily, allow: string[]): string | undefined {
  const fam = familyRule(family, command);
  if (fam) return fam;
  const a = analyze(command);
  if ("refused" in a) return a.refused;
  for (const c of a.commands) {
    const text = [
      ...c.assignments.map((x) => `${x.name}=${x.value.value}`),
      ...c.words.map((w) => w.value),
    ].join(" ");
    if (!matchAny(allow, text)) return `'${text.slice(0, 60)}' matches no allow_patterns`;
  }
  return undefined;
}

/** The verdict for a command line under the profile's policy. */
export function checkCommand(profile: Profile, command: string, family: PolicyFamily = "posix"): Verdict {
  const sec = profile.security;
  const denied = matchAny(sec.deny_patterns, command);
  if (denied) return { allowed: false, rule: `deny_patterns: /${denied}/` };
  if (sec.mode === "unrestricted") return ALLOWED;
  const why =
    sec.mode === "restricted"
      ? restrictedLine(command, family, sec.allow_patterns)
      : readonlyLine(command, family);
  return why ? { allowed: false, rule: `${sec.mode}: ${why}` } : ALLOWED;
}

/**
 * A line ssh-mcp builds itself from quoted arguments (search_logs: find and grep): the agent
 * chose only the quoted values. deny_patterns apply; under readonly/restricted it runs only where
 * a POSIX shell reads it, the quoting it was built for (fish and csh quote otherwise).
 */
export function checkBuiltCommand(
  profile: Profile,
  command: string,
  family: PolicyFamily,
  tool: string,
): Verdict {
  const sec = profile.security;
  const denied = matchAny(sec.deny_patterns, command);
  if (denied) return { allowed: false, rule: `deny_patterns: /${denied}/` };
  if (sec.mode !== "unrestricted" && family !== "posix")
    return {
      allowed: false,
      rule: `${sec.mode}: ${tool} quotes for a POSIX shell, and the shell here is ${family}`,
    };
  return ALLOWED;
}

/** Answers to a menu or a question: a number, an IP or host:port, one letter (y, n, q). Not a word. */
const MENU_ANSWER = /^([0-9][0-9.:]{0,31}|[A-Za-z])?$/;
const YES_NO = /^(y|n|yes|no)$/i;

/**
 * send_text under readonly/restricted, judged by what the screen shows: at a shell prompt the
 * text is a command line (with Enter: typing without it would let a line be assembled piece by
 * piece); in a pager only its navigation keys; at a question y/n; at a menu a menu answer. A
 * secret only at a password prompt, and only when no command line is running: typed behind a
 * fake `Password:` it would wait in the terminal and be read by the shell as a command.
 */
export function checkText(
  profile: Profile,
  text: string,
  sensitive: boolean,
  ctx: InputContext,
  enter = true,
): Verdict {
  const sec = profile.security;
  if (sec.mode === "unrestricted") {
    const denied = sensitive ? undefined : matchAny(sec.deny_patterns, text);
    return denied ? { allowed: false, rule: `deny_patterns: /${denied}/` } : ALLOWED;
  }
  const no = (rule: string): Verdict => ({ allowed: false, rule: `${sec.mode}: ${rule}` });
  const screen = ctx.screen();
  if (sensitive) {
    if (screen.kind !== "password") return no("sensitive text only at a password prompt");
    if (ctx.running())
      return no("sensitive text while a command line runs (it could be read by the shell as a command)");
    return ALLOWED;
  }
  switch (screen.kind) {
    case "prompt":
      if (!enter) return no("text without Enter at a shell prompt");
      return checkCommand(profile, text, ctx.family);
    case "pager":
      // A key and Enter (one more line down) are both harmless there.
      return PAGER_KEY.test(text) ? ALLOWED : no("in a pager only its navigation keys and q");
    case "confirm":
      return YES_NO.test(text.trim()) ? ALLOWED : no("at a yes/no question only y or n");
    case "editor":
    case "repl":
      return no(`nothing is typed into ${screen.kind === "editor" ? "an editor" : "a REPL"}`);
    default:
      // A menu, a password prompt given a non-secret answer, a program reading input.
      if (MENU_ANSWER.test(text.trim())) return ALLOWED;
      // A line that is not a prompt of the known shell could still be one (a shell that printed
      // something odd): a command line is checked as one.
      if (!enter) return no("text without Enter");
      return checkCommand(profile, text, ctx.family);
  }
}

/** One navigation key of less/more, or q. */
const PAGER_KEY = /^[qQbfdujkgGnNpe0-9 ]$/;
const PAGER_KEYS = new Set([
  "Up",
  "Down",
  "Left",
  "Right",
  "PageUp",
  "PageDown",
  "PgUp",
  "PgDn",
  "PPage",
  "NPage",
  "Home",
  "End",
  "Space",
  "Enter",
  "C-f",
  "C-b",
  "C-d",
  "C-u",
  "C-n",
  "C-p",
  "C-c",
]);

/**
 * send_keys (and the viewer's keys) under readonly/restricted. At a shell prompt keys are typed
 * text: printable keys ending in one Enter, checked as a command line; history, completion and
 * line-editing keys could bring back or change a line unchecked. In a pager only navigation
 * keys and q; an editor may only be left (Escape, `:q!` Enter); anywhere C-c.
 */
export function checkKeys(profile: Profile, keys: string[], ctx: InputContext): Verdict {
  const sec = profile.security;
  if (sec.mode === "unrestricted") {
    const text = keys.map((k) => (k.length === 1 ? k : k === "Space" ? " " : "")).join("");
    const denied = matchAny(sec.deny_patterns, text);
    return denied ? { allowed: false, rule: `deny_patterns: /${denied}/` } : ALLOWED;
  }
  const no = (rule: string): Verdict => ({ allowed: false, rule: `${sec.mode}: ${rule}` });
  if (keys.every((k) => k === "C-c")) return ALLOWED;
  const screen = ctx.screen();
  switch (screen.kind) {
    case "pager":
      return keys.every((k) => PAGER_KEYS.has(k) || PAGER_KEY.test(k))
        ? ALLOWED
        : no("in a pager only navigation keys and q");
    case "editor": {
      const s = keys.join(" ");
      return s === "Escape" || /^(Escape )?: q !( Enter)?$/.test(s) || s === "C-x"
        ? ALLOWED
        : no("an editor may only be left (Escape, then : q ! Enter)");
    }
    case "confirm":
      return keys.length <= 2 && /^(y|n)( Enter)?$/i.test(keys.join(" "))
        ? ALLOWED
        : no("at a yes/no question only y or n");
    case "prompt":
    case "text":
    case "other": {
      const last = keys[keys.length - 1];
      const body = keys.slice(0, -1);
      if (last !== "Enter" || !body.every((k) => k.length === 1 || k === "Space"))
        return no("at a prompt keys must be printable text ending in one Enter (use send_text)");
      const text = body.map((k) => (k === "Space" ? " " : k)).join("");
      if (screen.kind !== "prompt" && MENU_ANSWER.test(text)) return ALLOWED;
      return checkCommand(profile, text, ctx.family);
    }
    default:
      return no(
        `keys at ${screen.kind === "password" ? "a password prompt (use send_text sensitive)" : `a ${screen.kind}`}`,
      );
  }
}

/** Escape sequences a browser terminal sends for keys, by tmux key name. */
const SEQUENCE_KEYS: Record<string, string> = {
  "\x1b[A": "Up",
  "\x1bOA": "Up",
  "\x1b[B": "Down",
  "\x1bOB": "Down",
  "\x1b[C": "Right",
  "\x1bOC": "Right",
  "\x1b[D": "Left",
  "\x1bOD": "Left",
  "\x1b[5~": "PageUp",
  "\x1b[6~": "PageDown",
  "\x1b[H": "Home",
  "\x1b[F": "End",
  "\x1b": "Escape",
  "\x03": "C-c",
  "\r": "Enter",
  " ": "Space",
};

/**
 * Raw terminal input (the viewer's typing) under readonly/restricted: a whole line ending in
 * Enter is checked as send_text would check it, one key as send_keys would. Anything else (a
 * half-typed line, a paste with several lines) is refused: the page sends lines in this mode.
 */
export function checkTyped(profile: Profile, data: string, ctx: InputContext): Verdict {
  if (profile.security.mode === "unrestricted") return ALLOWED;
  const key = Object.hasOwn(SEQUENCE_KEYS, data) ? SEQUENCE_KEYS[data] : undefined;
  if (key) return checkKeys(profile, [key], ctx);
  // eslint-disable-next-line no-control-regex
  const line = /^([^\x00-\x1f\x7f]*)[\r\n]$/.exec(data);
  if (line) return checkText(profile, line[1] ?? "", false, ctx, true);
  // eslint-disable-next-line no-control-regex
  if (/^[^\x00-\x1f\x7f]$/.test(data)) return checkKeys(profile, [data], ctx);
  return { allowed: false, rule: `${profile.security.mode}: typed input that is not one line or one key` };
}
