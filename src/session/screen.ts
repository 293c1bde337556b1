/**
 * What the screen shows, from its last lines: a shell prompt, or a program waiting for input of
 * a kind (password, a yes/no question, a pager, an editor, a REPL), or plain text (a program
 * running or reading input silently). Pure: the caller passes the lines (the stream's tail, or
 * tmux's rendering of a full-screen program) and whether the alternate screen is on.
 *
 * execute_command types only at a prompt, and reports a running command that waits for input
 * (docs/shells.md). The patterns are the common ones; a profile's prompt_regex adds its own.
 */

export type InputKind = "password" | "confirm" | "pager" | "editor" | "repl" | "other";

export type ScreenKind = "prompt" | InputKind | "text";

export interface ScreenState {
  kind: ScreenKind;
  /** The line that decided it (the last non-empty line). */
  line: string;
  /**
   * A prompt that looks like a shell's (or is the one our shell printed). A prompt_regex match
   * alone is not (it matches menus too).
   */
  shellLike?: boolean;
  /** Where no shell is known yet, a probe may be typed here (see classifyScreen). */
  probeWorthy?: boolean;
  /** It is the known prompt (the one our shell printed after its last end mark). */
  known?: boolean;
  /** The cursor's line as it is (trailing blanks kept); empty when the cursor is on a new line. */
  cursor?: string;
}

const PASSWORD =
  /(pass(word|phrase|code)?|passwd|PIN|verification code|one-time code|OTP|token code)\b[^\n]{0,60}:\s*$|\[sudo\] [^\n]*:\s*$|Enter PEM pass phrase:?\s*$/i;

const CONFIRM =
  /(\[(y(es)?\/n(o)?|Y\/n|y\/N)\]|\((y(es)?\/n(o)?|Y\/n|y\/N)(\/\[fingerprint\])?( \[[yn]\])?\)|\[[yY]\]\/n|y\/\[[nN]\])\s*[:?]?\s*$|\b(yes\/no|y\/n)\s*[:?]\s*$|^[\w.-]+: (remove|overwrite|replace|descend into|remove write-protected)\b.*\?\s*$/i;

const PAGER =
  /^(:|\(END\)|.*--More--.*|.*\(press RETURN\).*|.*\blines \d+-\d+(\/\d+)?.*|Manual page .* line \d+.*|.*\(END\)\s*$|.*byte \d+.*|HIT RETURN.*|Press RETURN.*)\s*$/;

const EDITOR =
  /^(-- (INSERT|VISUAL|REPLACE)( LINE| BLOCK)? --.*|.*"[^"]*" \[New( File)?\].*|.*\^G Get Help.*|.*\^X Exit.*|\s*GNU nano .*|.*\bE\d{2,3}: .*)$/;

const REPL =
  /^(>>> ?|\.\.\. ?|In \[\d+\]: ?|irb\([^)]*\):\d+:\d+[>*] ?|\[\d+\] pry\([^)]*\)> ?|(mysql|MariaDB \[[^\]]*\]|sqlite|ghci|scala|jshell|mongo|redis[^>]*|psql|sql|cqlsh[^>]*)> ?|[A-Za-z0-9_-]+=[#>] ?|[A-Za-z0-9_-]+-[#>] ?)\s*$/;

/** A shell prompt: ends in one of the usual prompt characters, optionally followed by a space. */
const PROMPT = /[$#%>❯➜»λ→▶\ue0b0\ue0b1]\s?$/;

/** A shell prompt's end: its character and a space (a progress line `45%` has no space after it). */
const SHELL_PROMPT_END = /[$#%>❯➜»λ→▶\ue0b0\ue0b1] $/;

/**
 * A cursor line shaped like a shell's prompt: its prompt character and a space; where the
 * shell's own prompt is known, the same character as that one (a `cd` changes the rest).
 */
export function sameShape(cursor: string, known: string | null): boolean {
  if (!SHELL_PROMPT_END.test(cursor)) return false;
  if (!known) return true;
  const k = known.trimEnd();
  return cursor.trimEnd().slice(-1) === k.slice(-1);
}

/** Continuation prompts: a bare `>` (sh's PS2), zsh's `dquote>`, `for>`, `cmdsubst>`... */
const CONTINUATION =
  /^(>|((dquote|quote|bquote|cmdsubst|cmdand|cmdor|pipe|for|foreach|if|then|else|elif|while|until|select|case|function|heredoc|cursh|subsh|braceparam|math|mathsubst|array|dquote)\s)*(dquote|quote|bquote|cmdsubst|cmdand|cmdor|pipe|for|foreach|if|then|else|elif|while|until|select|case|function|heredoc|cursh|subsh|braceparam|math|mathsubst|array)>)$/;

/** One word and `>`: a program's own prompt (`sftp>`, `127.0.0.1:6379>`, `value>`). */
const TOKEN_PROMPT = /^[^\s>]+>$/;

/** But `host:~/dir>` or `host:/dir>` is tcsh's default prompt. */
const HOST_PATH_PROMPT = /^[\w.-]+:[~/][^\s]*>$/;

/** A shell prompt followed by typed text: `user@host:~$ echo half`. */
const PROMPT_WITH_INPUT = /^[^\n]{0,100}?\S[$#%>❯➜»λ→▶\ue0b0\ue0b1] \S/;

/** The last non-empty line of a text, right-trimmed. */
function lastLine(text: string): string {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = (lines[i] as string).replace(/\s+$/, "");
    if (l) return (lines[i] as string).replace(/[\r]+$/, "");
  }
  return "";
}

export function classifyScreen(
  text: string,
  opts: {
    alternate?: boolean;
    prompt?: RegExp;
    knownPrompt?: string | null;
    /** No input went in since our shell printed knownPrompt: even a bare `>` is that prompt. */
    knownFresh?: boolean;
  } = {},
): ScreenState {
  const state = classify(text, opts);
  state.cursor = (text.split("\n").pop() ?? "").replace(/\r+$/, "");
  return state;
}

function classify(
  text: string,
  opts: { alternate?: boolean; prompt?: RegExp; knownPrompt?: string | null; knownFresh?: boolean },
): ScreenState {
  const line = lastLine(text);
  const trimmed = line.replace(/\s+$/, "");
  if (opts.alternate) {
    const lines = text.split("\n").map((l) => l.replace(/\s+$/, ""));
    if (lines.some((l) => EDITOR.test(l)) || lines.filter((l) => l === "~").length >= 2)
      return { kind: "editor", line: trimmed };
    if (PAGER.test(trimmed)) return { kind: "pager", line: trimmed };
    return { kind: "other", line: trimmed };
  }
  if (PASSWORD.test(trimmed)) return { kind: "password", line: trimmed };
  if (CONFIRM.test(trimmed)) return { kind: "confirm", line: trimmed };
  if (EDITOR.test(trimmed)) return { kind: "editor", line: trimmed };
  if (PAGER.test(trimmed)) return { kind: "pager", line: trimmed };
  // The cursor is on the last line only when the text does not end in a line break.
  const cursorLine = (text.split("\n").pop() ?? "").replace(/\r+$/, "");
  const known = opts.knownPrompt?.trimEnd();
  if (known && opts.knownFresh && trimmed === known)
    return { kind: "prompt", line: trimmed, shellLike: true, probeWorthy: true, known: true };
  // A shell's continuation prompt (`> `, zsh's `dquote> `): a command is half-way typed.
  if (CONTINUATION.test(trimmed)) return { kind: "text", line: trimmed };
  // Our shell's own prompt, alone or with text typed after it on the cursor's line (which the
  // line kill before each command clears).
  if (known && (trimmed === known || (known.length >= 2 && cursorLine.startsWith(known))))
    return { kind: "prompt", line: trimmed, shellLike: true, probeWorthy: true, known: true };
  if (REPL.test(trimmed) || (TOKEN_PROMPT.test(trimmed) && !HOST_PATH_PROMPT.test(trimmed)))
    return { kind: "repl", line: trimmed };
  // A prompt with text typed after it (the line kill before each command clears it).
  if (PROMPT_WITH_INPUT.test(cursorLine) && !/^(>>>|\.\.\.) /.test(cursorLine))
    return { kind: "prompt", line: trimmed, shellLike: true, probeWorthy: true };
  if (PROMPT.test(trimmed)) return { kind: "prompt", line: trimmed, shellLike: true, probeWorthy: true };
  // Not a usual prompt, but the cursor waits right after a line that asks nothing (an exotic
  // prompt such as `➜  ~ `): worth a probe where no shell is known yet. A question or a menu
  // (`Target IP: `, `Continue? `) is not.
  const probeWorthy = cursorLine.trim() !== "" && !/[:?]$/.test(trimmed);
  if (opts.prompt?.test(line)) return { kind: "prompt", line: trimmed, probeWorthy };
  return { kind: "text", line: trimmed, probeWorthy };
}

/** Kinds execute_command refuses to type into (SCREEN_BUSY): it would be keystrokes to a program. */
export function isBusy(kind: ScreenKind): boolean {
  return (
    kind === "password" || kind === "confirm" || kind === "pager" || kind === "editor" || kind === "other"
  );
}

/** What to tell the agent to do to leave a busy screen. */
export function howToLeave(kind: ScreenKind): string {
  switch (kind) {
    case "pager":
      return "Quit the pager with send_keys ['q'] (or send_text 'q' without enter).";
    case "editor":
      return "Leave the editor (vi: send_keys ['Escape'] then send_text ':q!'; nano: send_keys ['C-x']).";
    case "password":
      return "Answer the prompt with send_text (sensitive: true), or interrupt.";
    case "confirm":
      return "Answer the question with send_text (e.g. 'y' or 'n'), or interrupt.";
    case "text":
      return "A program is reading input: answer it with send_text, end it with send_keys ['C-d'] or interrupt.";
    default:
      return "A full-screen program is open: leave it with send_keys (often 'q', Escape or C-c); get_screen shows it.";
  }
}
