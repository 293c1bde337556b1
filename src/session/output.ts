import stripAnsi from "strip-ansi";

/**
 * Pure text handling for command output: the in-band markers, cleaning terminal bytes into
 * plain text, and capping/paging. Kept free of I/O so it is unit-tested on its own.
 *
 * The marker design: the command is sent as
 *   printf '__SSHMCP_B_%s__\n' NONCE; { COMMAND
 *   }; printf '\n__SSHMCP_E_%s_%s__\n' NONCE "$?"
 * The brace group makes the shell read the whole input before running any of it, so the echo of
 * the typed text always comes before the begin marker; the newline before `}` ends any trailing
 * comment, heredoc or `&`. The nonce is a printf argument, so the echoed line never contains the
 * assembled marker text and cannot complete the command early. The end marker's leading newline
 * guarantees it starts a line; exactly one line break before it is removed again, so output that
 * does not end in a newline comes back exactly.
 */

const B = "__SSHMCP_B_";
const E = "__SSHMCP_E_";

export function wrapCommand(command: string, nonce: string, enter: string): string {
  return `printf '${B}%s__\\n' ${nonce}; { ${command}${enter}}; printf '\\n${E}%s_%s__\\n' ${nonce} "$?"`;
}

export function beginMarker(nonce: string): string {
  return `${B}${nonce}__`;
}

/** Index just past the begin marker line in `text`, or -1. */
export function findBegin(text: string, nonce: string, from = 0): number {
  const m = beginMarker(nonce);
  const i = text.indexOf(m, from);
  if (i === -1) return -1;
  let j = i + m.length;
  if (text[j] === "\r") j++;
  if (text[j] === "\n") return j + 1;
  return j >= text.length ? -1 : j;
}

export interface EndMatch {
  /** Index where the command's output ends (the line break before the marker removed). */
  outputEnd: number;
  /** Index just past the marker. */
  markerEnd: number;
  exitCode: number;
}

export function findEnd(text: string, nonce: string, from = 0): EndMatch | undefined {
  const m = `${E}${nonce}_`;
  let i = text.indexOf(m, from);
  while (i !== -1) {
    const rest = /^(\d{1,3})__/.exec(text.slice(i + m.length, i + m.length + 6));
    if (rest?.[1] !== undefined) {
      let outputEnd = i;
      if (text[outputEnd - 1] === "\n") outputEnd--;
      if (text[outputEnd - 1] === "\r") outputEnd--;
      return { outputEnd, markerEnd: i + m.length + rest[0].length, exitCode: Number(rest[1]) };
    }
    i = text.indexOf(m, i + 1);
  }
  return undefined;
}

/** Longest marker text, so incremental searches can back up this far across chunk edges. */
export const MARKER_OVERLAP = 64;

/**
 * Turns raw terminal output into plain text: ANSI sequences removed, CRLF folded to LF, a bare
 * CR overwrites the line as a terminal would (progress bars keep their last state), backspace
 * erases, other control characters dropped.
 */
export function cleanOutput(raw: string): string {
  // Fast path for the common case (plain lines ending in CRLF): whole-string passes only.
  const text = stripAnsi(raw).replace(/\r+\n/g, "\n");
  if (!text.includes("\r") && !text.includes("\b")) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  }
  const lines = text.split("\n");
  const out: string[] = [];
  for (let line of lines) {
    if (line.endsWith("\r")) line = line.replace(/\r+$/, "");
    if (line.includes("\r")) line = overlay(line.split("\r"));
    if (line.includes("\b")) line = applyBackspace(line);
    // eslint-disable-next-line no-control-regex
    out.push(line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ""));
  }
  return out.join("\n");
}

function overlay(parts: string[]): string {
  let cur = "";
  for (const p of parts) cur = p + cur.slice(p.length);
  return cur;
}

function applyBackspace(line: string): string {
  const chars: string[] = [];
  for (const ch of line) {
    if (ch === "\b") chars.pop();
    else chars.push(ch);
  }
  return chars.join("");
}

/** Keeps the head and the tail of long output with a note saying how to get the rest. */
export function capOutput(text: string, max: number): { output: string; truncated: boolean } {
  if (text.length <= max) return { output: text, truncated: false };
  const head = Math.floor(max / 4);
  const tail = max - head;
  const omitted = text.length - head - tail;
  return {
    output:
      text.slice(0, head) +
      `\n... [${omitted} characters omitted; call get_command with output_offset to read them] ...\n` +
      text.slice(text.length - tail),
    truncated: true,
  };
}

/** UTF-8 bytes a character costs once JSON-encoded, to keep replies under the client's cap. */
function jsonCost(code: number): number {
  if (code === 0x22 || code === 0x5c || code === 0x0a || code === 0x0d || code === 0x09) return 2;
  if (code < 0x20) return 6;
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code <= 0xdfff) return 2;
  return 3;
}

/**
 * One page of output starting at `offset` whose JSON encoding fits `budget` bytes. The reply
 * carries the output twice (text content and structuredContent), so the budget is kept well
 * under half of the 10 MB client cap.
 */
export function pageOutput(
  text: string,
  offset: number,
  budget: number,
): { output: string; nextOffset: number | null } {
  let cost = 0;
  let i = Math.max(0, Math.min(offset, text.length));
  const start = i;
  while (i < text.length) {
    const c = jsonCost(text.charCodeAt(i));
    if (cost + c > budget) break;
    cost += c;
    i++;
  }
  // Never split a surrogate pair across pages.
  if (i < text.length && i > start) {
    const prev = text.charCodeAt(i - 1);
    if (prev >= 0xd800 && prev <= 0xdbff) i--;
  }
  return { output: text.slice(start, i), nextOffset: i < text.length ? i : null };
}

export function jsonSize(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += jsonCost(text.charCodeAt(i));
  return n;
}
