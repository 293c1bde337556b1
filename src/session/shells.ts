import { shQuote } from "../tmux/command.js";

/**
 * Shell families: how to find out which shell listens at a prompt, and how each family runs a
 * command between two invisible marks. Pure text, no I/O (unit-tested on its own); see
 * docs/shells.md for the design.
 *
 * - The probe is one line that every family parses without error and answers differently:
 *   `printf '\033]133;P;sshmcp=%s;probe=%s;%s\007' NONCE 'a\\b' "$shell"`. fish reads `\\`
 *   inside single quotes as one backslash (POSIX sh and csh keep both); only csh/tcsh set
 *   `$shell`. The answer is an invisible mark assembled by printf, so the echo of the typed line
 *   never matches it.
 * - The install line of the family then defines two tiny helpers, `__mcp_b NONCE` (prints the
 *   begin mark, remembers the nonce) and `__mcp_e STATUS` (prints the end mark with the status
 *   and restores `$?`), and answers with the shell's name. Every command is then typed as one
 *   short line, ` __mcp_b NONCE&&command eval 'CMD';__mcp_e $?`, instead of a 200-character
 *   wrapper: what a human watching the pane sees stays readable.
 * - The marks are OSC 133 shell-integration sequences (C: output starts, D: command done, with
 *   its exit status), carrying the per-command nonce: a terminal shows nothing for them, and
 *   output cannot forge them without the nonce.
 * - The helpers are the shell's identity: a nested shell (bash in bash, fish, a pod's sh) does
 *   not have them, so the line fails at `__mcp_b` before the command runs (`&&`), with the
 *   shell's own "not found". The server then probes again and retries: a command never runs
 *   twice and never runs untracked.
 * Adding a family (PowerShell, cmd.exe) is a row: an answer to the probe, an install line, a
 * wrapper. Their probe would be a second line sent only when the first gets no answer.
 */

export type Family = "posix" | "fish" | "csh";

/** What the session knows of the shell at its prompt. */
export interface ShellState {
  /** A family that answered the probe; "other" when a probe got no answer; "unknown" before. */
  family: Family | "other" | "unknown";
  /** bash, zsh, ksh, ash, sh, fish, tcsh, csh; null when not known. */
  name: string | null;
  /** The helpers are installed in the shell that answered (commands can be wrapped). */
  ready: boolean;
}

export const UNKNOWN_SHELL: ShellState = { family: "unknown", name: null, ready: false };

const BEGIN_FN = "__mcp_b";
const END_FN = "__mcp_e";
/** ksh only: eval inside a function, where mksh keeps a syntax error from aborting the line. */
const RUN_FN = "__mcp_x";

const C = (fmt: string): string => `\\033]133;${fmt}\\007`;

/** The probe line (without Enter). Harmless in every family, and an error elsewhere. */
export function probeLine(nonce: string): string {
  return ` printf '${C("P;sshmcp=%s;probe=%s;%s")}' ${nonce} 'a\\\\b' "$shell"`;
}

/** The family the probe's answer names, or undefined while it has not come. */
export function parseProbe(text: string, nonce: string): Family | undefined {
  const tag = `\x1b]133;P;sshmcp=${nonce};probe=`;
  const i = text.indexOf(tag);
  if (i === -1) return undefined;
  // eslint-disable-next-line no-control-regex
  const m = /^(a\\\\b|a\\b);([^\x07\r\n]*)\x07/.exec(text.slice(i + tag.length));
  if (!m) return undefined;
  if (m[1] === "a\\b") return "fish";
  return /csh$/.test((m[2] ?? "").trim()) ? "csh" : "posix";
}

/** The line that installs the family's helpers and answers with the shell's name. */
export function installLine(family: Family, nonce: string): string {
  const begin = C("C;sshmcp=%s");
  const end = C("D;%s;sshmcp=%s");
  const answer = C("P;sshmcp=%s;shell=%s");
  switch (family) {
    case "posix":
      return (
        ` ${BEGIN_FN}(){ __mcp_n=$1;printf '${begin}' "$1";};` +
        `${END_FN}(){ printf '${end}' "$1" "$__mcp_n";return $1;};` +
        `${RUN_FN}(){ __mcp_c=$1;shift;command eval "$__mcp_c";};` +
        `printf '${answer}' ${nonce} "\${ZSH_VERSION:+zsh}\${BASH_VERSION:+bash}\${KSH_VERSION:+ksh}:\${KSH_VERSION:-\${ZSH_VERSION:-\${BASH_VERSION:-$(readlink /proc/$$/exe 2>/dev/null)}}}"`
      );
    case "fish":
      return (
        ` function ${BEGIN_FN}; set -g __mcp_n $argv[1]; printf '${begin}' $argv[1]; end;` +
        ` function ${END_FN}; printf '${end}' $argv[1] $__mcp_n; return $argv[1]; end;` +
        ` printf '${answer}' ${nonce} fish`
      );
    case "csh":
      return (
        ` alias ${BEGIN_FN} 'set __mcp_n=\\!:1; printf "${begin}" \\!:1';` +
        ` alias ${END_FN} 'printf "${end}" \\!:1 $__mcp_n';` +
        ` printf '${answer}' ${nonce} $?tcsh`
      );
  }
}

/** The shell's name from the install line's answer, or undefined while it has not come. */
export function parseInstall(text: string, family: Family, nonce: string): string | undefined {
  const m = new RegExp(`\\x1b\\]133;P;sshmcp=${nonce};shell=([^\\x07\\r\\n]*)\\x07`).exec(text);
  if (!m) return undefined;
  const v = m[1] ?? "";
  if (family === "fish") return "fish";
  if (family === "csh") return v === "1" ? "tcsh" : "csh";
  // POSIX: the version variables, then (only when none is set: no process is started for it)
  // the program behind the process (/proc, where there is one).
  const cut = v.indexOf(":");
  const vars = cut === -1 ? v : v.slice(0, cut);
  const exe = cut === -1 ? "" : v.slice(cut + 1);
  if (/MIRBSD/.test(exe)) return "mksh";
  const base = exe.split("/").pop() ?? "";
  if (/^(bash|zsh|dash|mksh|lksh|yash|posh)$/.test(base)) return base === "lksh" ? "mksh" : base;
  if (base === "busybox") return "ash";
  if (/^ksh/.test(base)) return "ksh";
  return vars.replace(/^(zsh|bash|ksh).*$/, "$1") || "sh";
}

/** Why `command` cannot be typed into this family, or undefined when it can. */
export function cannotWrap(family: Family, command: string): string | undefined {
  if (family !== "csh") return undefined;
  if (/[\r\n]/.test(command))
    return "csh/tcsh cannot take a multi-line command: send one line (join with ';'), or run it with sh -c '...'.";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(command))
    return "csh/tcsh cannot be sent control characters other than TAB (^C, ^\\ would act as signals): use printf escapes, or run it with sh -c '...'.";
  if (Buffer.byteLength(cshArg(command)) > 10_000)
    return "csh/tcsh takes lines of at most about 10 kB once quoted: shorten the command, or put it in a script.";
  return undefined;
}

/**
 * Longest quoted piece on one physical line of a wrapped POSIX command: with the line's prefix
 * (~45 bytes) it stays under busybox ash's 1024-byte line editor and the tty's 4095-byte limit.
 */
const PIECE = 900;

/** Splits so that each piece, once single-quoted, stays near PIECE bytes; never inside a surrogate pair. */
function pieces(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const size =
      code === 0x27 ? 4 : code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xdc00 && code <= 0xdfff ? 1 : 3;
    if (bytes + size > PIECE && i > start && !(code >= 0xdc00 && code <= 0xdfff)) {
      out.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  out.push(text.slice(start));
  return out;
}

function percentBEscape(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (ch === "\\") out += "\\\\";
    // `!` too: inside "$(...)" bash's history expansion would still see it.
    else if (code < 0x20 || code === 0x7f || ch === "!") out += "\\0" + code.toString(8).padStart(3, "0");
    else out += ch;
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;

/**
 * POSIX: COMMAND travels inside single quotes and is parsed by `eval`, so history expansion
 * never touches it and a syntax error makes eval fail (the end mark still prints). Long commands
 * are cut into quoted pieces joined by backslash-newline, so no physical line reaches the tty's
 * 4095-byte canonical-mode limit (dash, busybox); control characters (TAB would complete) travel
 * as printf %b escapes. `command eval` keeps a syntax error from aborting the line in dash/ash
 * (eval is a special builtin); zsh's `command` only runs external commands, so zsh gets
 * `builtin eval`. mksh aborts the whole line on a syntax error even in `command eval`, except
 * inside a function: ksh runs it through `__mcp_x CMD "$@"` (positional parameters passed on; a
 * `typeset` there is local to that function). The leading space keeps the line out of history (HISTCONTROL=ignorespace).
 */
function posixArg(command: string): string {
  const needsEscapes = CONTROL.test(command);
  const body = needsEscapes ? percentBEscape(command) : command;
  // Continuations always use LF: a CR from a "crlf" profile would end the line early.
  const quoted = pieces(body).map(shQuote).join("\\\n");
  return needsEscapes ? `"$(printf '%b' ${quoted})"` : quoted;
}

/**
 * fish: single quotes where only `\\` and `\'` are special; a line break or control character
 * goes outside the quotes as fish's own escape (`'a'\n'b'`), so the line stays one line and a
 * TAB never reaches the line editor.
 */
function fishArg(command: string): string {
  let out = "'";
  for (const ch of command) {
    const code = ch.charCodeAt(0);
    if (ch === "\\" || ch === "'") out += "\\" + ch;
    else if (ch === "\n") out += "'\\n'";
    else if (code < 0x20 || code === 0x7f) out += `'\\x${code.toString(16).padStart(2, "0")}'`;
    else out += ch;
  }
  return out + "'";
}

/**
 * csh/tcsh: single quotes, `'` as `'\''`. A `!` that would start a history expansion (history
 * expansion happens even in single quotes, and again inside eval) goes as `\\!`, a user's own
 * `\!` the same way; a `!` before a blank, `=`, `~`, `(` or the end is never expanded and stays
 * (`if (1 != 2)`, `$a !~ x`). A TAB is preceded by ^V (the line editor's and the tty's
 * literal-next), so it is typed rather than completed.
 */
function cshArg(command: string): string {
  let out = "'";
  const chars = [...command];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const next = chars[i + 1];
    if (ch === "'") out += `'\\''`;
    else if (ch === "\\" && next === "!") {
      out += "\\\\!";
      i++;
    } else if (ch === "!") out += next === undefined || /[\s=~(]/.test(next) ? "!" : "\\\\!";
    else if (ch === "\t") out += "\x16\t";
    else out += ch;
  }
  return out + "'";
}

/** The short line that runs `command` between the family's marks (see the module comment). */
export function wrapCommand(
  shell: Pick<ShellState, "name">,
  family: Family,
  command: string,
  nonce: string,
): string {
  switch (family) {
    case "posix": {
      const arg = posixArg(command);
      if (shell.name === "zsh") return ` ${BEGIN_FN} ${nonce}&&builtin eval ${arg};${END_FN} $?`;
      if (/ksh/.test(shell.name ?? "")) return ` ${BEGIN_FN} ${nonce}&&${RUN_FN} ${arg} "$@";${END_FN} $?`;
      return ` ${BEGIN_FN} ${nonce}&&command eval ${arg};${END_FN} $?`;
    }
    case "fish":
      return ` ${BEGIN_FN} ${nonce} && eval ${fishArg(command)}; ${END_FN} $status`;
    case "csh":
      return ` ${BEGIN_FN} ${nonce} && eval ${cshArg(command)}; ${END_FN} $status`;
  }
}

/**
 * The shell's own words for "no such command: __mcp_b" (the helpers are missing: this is not the
 * shell they were installed in), or for a line of another family's syntax it refused to parse:
 * either way nothing of the line ran. Read only after the echo of the typed line, on whole lines
 * that do not carry its nonce (a redraw of the typed line), anchored at the line's start: a
 * command's own "not found", or one that names __mcp_b, never counts.
 */
const MISSING =
  /^(?:[\w./-]+: )*(?:line \d+: |\d+: )?(?:__mcp_b: (?:command )?not found|__mcp_b: inaccessible or not found|command not found: __mcp_b|Unknown command: '?__mcp_b'?|__mcp_b: Command not found\.|\$\? is not the exit status)/;

export function helpersMissing(text: string, nonce: string): boolean {
  const end = echoEnd(text, nonce);
  if (end === -1) return false;
  return text
    .slice(end)
    .split("\n")
    .some((line) => !line.includes(nonce) && MISSING.test(line.replace(/^\r+/, "")));
}

/**
 * Where the echo of a typed line that carries `nonce` ends (just past its line break), or -1
 * while it has not been echoed whole. What a shell says about the line comes after it.
 */
export function echoEnd(text: string, nonce: string): number {
  const i = text.indexOf(nonce);
  if (i === -1) return -1;
  const nl = text.indexOf("\n", i);
  return nl === -1 ? -1 : nl + 1;
}

/**
 * Whether a command line may leave its shell at another shell's prompt: a login (ssh, mosh,
 * telnet), su, sudo with -i/-s/su/a shell, a container or pod shell (kubectl/oc/docker/podman
 * exec with -it), a shell started by name with no script or -c, exec, or leaving one (exit,
 * logout). `bash -c '...'`, `sh script.sh`, `sudo cmd` are not: they run and come back.
 */
export function entersShell(command: string): boolean {
  return command.split(/&&|\|\||[;|&\n]/).some((part) => simpleEntersShell(words(part)));
}

/** A command's words, quotes removed (enough to tell which program runs with which options). */
function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:'[^']*'|"(?:[^"\\]|\\.)*"|\\.|[^\s'"\\])+/g))
    out.push(m[0].replace(/'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)/g, (_m, a, b, c) => a ?? b ?? c ?? ""));
  return out;
}

const SHELLS = /^(bash|sh|dash|zsh|ksh|mksh|ash|fish|tcsh|csh|busybox)$/;

function simpleEntersShell(words: string[]): boolean {
  // VAR=x cmd, env [-i] VAR=x cmd, command/nohup cmd
  for (;;) {
    const w = words[0];
    if (w === undefined) break;
    if (
      /^\w+=/.test(w) ||
      w === "env" ||
      w === "command" ||
      w === "nohup" ||
      (w.startsWith("-") && w.length > 1)
    )
      words = words.slice(1);
    else break;
  }
  const [cmd = "", ...args] = words;
  const name = cmd.split("/").pop() ?? "";
  const opts = args.filter((a) => a.startsWith("-"));
  const plain = args.filter((a) => !a.startsWith("-"));
  switch (name) {
    case "ssh":
      return sshPlain(args) <= 1;
    case "mosh":
    case "telnet":
    case "su":
    case "exit":
    case "logout":
    case "exec":
    case "screen":
    case "tmux":
    case "nsenter":
    case "lxc-attach":
    case "chroot":
      return true;
    case "sudo":
    case "doas":
      return (
        opts.some((o) => /^-(\w*[is]\w*|-login|-shell)$/.test(o)) ||
        (plain[0] !== undefined && (plain[0] === "su" || (SHELLS.test(plain[0]) && plain.length === 1)))
      );
    case "kubectl":
    case "oc":
    case "docker":
    case "podman":
    case "nerdctl":
      return (
        (plain.includes("exec") || plain.includes("run") || plain.includes("attach")) &&
        (opts.some((o) => /^-\w*t/.test(o) || o === "--tty") || plain.includes("attach"))
      );
    case "machinectl":
    case "toolbox":
    case "distrobox":
    case "vagrant":
      return plain.some((p) => p === "shell" || p === "login" || p === "enter" || p === "ssh");
    default:
      // A shell by name, with options only (-l, -i, --login): a nested interactive shell.
      return SHELLS.test(name) && plain.length === 0 && !opts.includes("-c");
  }
}

/** ssh's words that are not options or their values: the host, then a remote command if any. */
function sshPlain(args: string[]): number {
  let n = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (/^-[BbcDEeFIiJLlmOopQRSWw]$/.test(a)) i++;
    else if (!a.startsWith("-")) n++;
  }
  return n;
}
