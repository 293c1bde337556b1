/**
 * tmux's command syntax: commands as argv arrays, how they are joined and quoted for tmux's
 * parsers, the send-keys commands that type text, the per-pane commands the Pane handle runs,
 * and tmux formats (`#{...}`). Pure functions: nothing here runs tmux.
 */

/** One tmux command as argv (`["send-keys", "-t", "%1", "Enter"]`). */
export type TmuxCommand = string[];

/** tmux treats an argument ending in ";" as a command separator; "\;" at the end is a literal ";". */
export function escapeArg(arg: string): string {
  return arg.endsWith(";") ? arg.slice(0, -1) + "\\;" : arg;
}

/** Joins commands into one argv with ";" separators, escaping every argument. */
export function chain(...commands: TmuxCommand[]): string[] {
  const out: string[] = [];
  commands.forEach((cmd, i) => {
    if (i > 0) out.push(";");
    out.push(...cmd.map(escapeArg));
  });
  return out;
}

/** Splits text into pieces under tmux's message size limit, never inside a UTF-16 surrogate pair. */
export function chunkText(text: string, maxBytes = 8000): string[] {
  const chunks: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const size =
      code < 0x80
        ? 1
        : code < 0x800
          ? 2
          : code >= 0xd800 && code <= 0xdbff
            ? 4
            : code >= 0xdc00 && code <= 0xdfff
              ? 0
              : 3;
    if (bytes + size > maxBytes && i > start && !(code >= 0xdc00 && code <= 0xdfff)) {
      chunks.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < text.length) chunks.push(text.slice(start));
  return chunks;
}

/** The commands that type `text` literally into `target`, after the named keys `firstKeys`. */
export function literalCommands(target: string, text: string, firstKeys: string[] = []): TmuxCommand[] {
  const cmds: TmuxCommand[] = [];
  if (firstKeys.length) cmds.push(["send-keys", "-t", target, ...firstKeys]);
  // A NUL ends a C string in tmux: it travels as the key C-@, which types the same byte.
  text.split("\0").forEach((part, i) => {
    if (i > 0) cmds.push(["send-keys", "-t", target, "C-@"]);
    for (const c of chunkText(part)) cmds.push(["send-keys", "-t", target, "-l", "--", c]);
  });
  return cmds;
}

const SAFE_BYTE = /^[A-Za-z0-9_.,:=+@%/-]$/;

/**
 * Commands as one string for tmux's own parser (the command arguments of if-shell, a control
 * client's input lines). Every argument travels double-quoted, every byte outside a small safe
 * set as an octal escape, so the parser (and format expansion before it) sees no `#`, `$`, `~`,
 * quote, `;` or control character of the text. Arguments must hold no NUL (literalCommands
 * never makes one).
 */
export function commandString(commands: TmuxCommand[]): string {
  return commands
    .map((args) =>
      args
        .map((a) => {
          let out = '"';
          for (const b of Buffer.from(a, "utf8")) {
            const ch = String.fromCharCode(b);
            out += b < 0x80 && SAFE_BYTE.test(ch) ? ch : "\\" + b.toString(8).padStart(3, "0");
          }
          return out + '"';
        })
        .join(" "),
    )
    .join(" ; ");
}

/** Whether commands fit one tmux message as a commandString (about 16 kB per message). */
export function fitsOneMessage(commands: TmuxCommand[]): boolean {
  let bytes = 0;
  for (const args of commands) for (const a of args) bytes += Buffer.byteLength(a) + 3;
  return bytes <= 3_000 || (bytes <= 12_000 && commandString(commands).length <= 12_000);
}

/** Quotes one word for sh (e.g. in pipe-pane's command, which tmux hands to sh -c). */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/* ---- Formats ---- */

/** Field separator in formats: printable ASCII, since tmux escapes tabs without a UTF-8 locale. */
export const SEP = "|:|";

/** A format variable or option (`pane_id`, `@my_option`) as a format: `#{pane_id}`. */
export function formatVar(name: string): string {
  return `#{${name}}`;
}

/** The format comparison `#{==:a,b}` (true as 1). */
export function formatEq(a: string, b: string): string {
  return `#{==:${a},${b}}`;
}

/** Conditions joined with `#{&&:...}`, nested to the right (tmux's && takes two). */
export function formatAnd(first: string, ...rest: string[]): string {
  return [first, ...rest].reduceRight((right, left) => `#{&&:${left},${right}}`);
}

/* ---- Per-pane commands (the Pane handle runs these) ---- */

/** Where an option lives: set-option's -p, -w, or the session (no flag). */
export type OptionScope = "pane" | "window" | "session";

const SCOPE_FLAGS: Record<OptionScope, string[]> = { pane: ["-p"], window: ["-w"], session: [] };

/** set-option on `target`: sets `name` to `value`, or unsets it when value is undefined. */
export function setOptionCommand(
  target: string,
  name: string,
  value: string | undefined,
  scope: OptionScope = "pane",
): TmuxCommand {
  return value === undefined
    ? ["set-option", ...SCOPE_FLAGS[scope], "-u", "-t", target, name]
    : ["set-option", ...SCOPE_FLAGS[scope], "-t", target, name, value];
}

/**
 * capture-pane to stdout: `start` lines of history (negative) through the visible screen, with
 * colours (`ansi`), wrapped rows joined unless `join` is false.
 */
export function captureCommand(
  target: string,
  opts: { start?: number; ansi?: boolean; join?: boolean } = {},
): TmuxCommand {
  const args = ["capture-pane", "-p", ...(opts.join === false ? [] : ["-J"]), "-t", target];
  if (opts.start !== undefined) args.push("-S", String(opts.start));
  if (opts.ansi) args.push("-e");
  return args;
}

/**
 * pipe-pane: the pane's output (only its output with `outputOnly`, -O) to `shellCommand`, run
 * with sh -c; without a command, stops the pane's pipe.
 */
export function pipePaneCommand(
  target: string,
  shellCommand?: string,
  opts: { outputOnly?: boolean } = {},
): TmuxCommand {
  return [
    "pipe-pane",
    ...(opts.outputOnly ? ["-O"] : []),
    "-t",
    target,
    ...(shellCommand === undefined ? [] : [shellCommand]),
  ];
}

/** display-message to stdout: `format` expanded for `target`. */
export function displayCommand(target: string, format: string): TmuxCommand {
  return ["display-message", "-p", "-t", target, format];
}
