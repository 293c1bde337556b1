import stripAnsi from "strip-ansi";

/**
 * Pure text handling for command output: the marks that bound a command's output, cleaning
 * terminal bytes into plain text, and capping/paging. Kept free of I/O so it is unit-tested on
 * its own. How a command is typed per shell family is in shells.ts.
 *
 * The marks are OSC 133 sequences with the command's nonce, invisible on a terminal:
 *   ESC ] 133 ; C ; sshmcp=NONCE BEL            output starts right after it
 *   ESC ] 133 ; D ; STATUS ; sshmcp=NONCE BEL    output ends right before it
 * Transcripts written before them carry text markers (`__SSHMCP_B_NONCE__` on a line of its
 * own, `\n__SSHMCP_E_NONCE_STATUS__`, one line break before it not output); both are read, so a
 * command started by an older server is still completed after adoption.
 */

const B = "__SSHMCP_B_";
const E = "__SSHMCP_E_";
const OSC_C = "\x1b]133;C;sshmcp=";
const OSC_D = "\x1b]133;D;";

export function beginMarker(nonce: string): string {
  return `${OSC_C}${nonce}\x07`;
}

export function endMarker(nonce: string, status: number): string {
  return `${OSC_D}${status};sshmcp=${nonce}\x07`;
}

/** Index just past the begin mark in `text`, or -1. */
export function findBegin(text: string, nonce: string, from = 0): number {
  const osc = beginMarker(nonce);
  const k = text.indexOf(osc, from);
  if (k !== -1) return k + osc.length;
  const m = `${B}${nonce}__`;
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
  const tail = `;sshmcp=${nonce}\x07`;
  let k = text.indexOf(tail, from);
  while (k !== -1) {
    // eslint-disable-next-line no-control-regex
    const head = /\x1b\]133;D;(\d{1,3})$/.exec(text.slice(Math.max(from, k - 12), k));
    if (head?.[1] !== undefined)
      return { outputEnd: k - head[0].length, markerEnd: k + tail.length, exitCode: Number(head[1]) };
    k = text.indexOf(tail, k + 1);
  }
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

/**
 * Piecewise cleaning. cleanOutput is line-local, so a text cut right after line breaks and
 * cleaned piece by piece gives the same as cleaning it whole (a property test checks it). One
 * regex replace with a match per line over 16 MB cost ~1 s, mostly garbage collection; 64 kB
 * pieces cost a tenth of that.
 */
export const CLEAN_PIECE = 64 * 1024;

/** The last cut in (from, limit], just after a line break; `from` if none. */
export function cutBefore(text: string, from: number, limit: number): number {
  const i = text.lastIndexOf("\n", limit - 1);
  return i >= from ? i + 1 : from;
}

/** The first cut at or after `from`; the text's end if none. */
function cutAfter(text: string, from: number): number {
  const i = text.indexOf("\n", from);
  return i === -1 ? text.length : i + 1;
}

/** cleanOutput of a text of any length, in pieces of about `piece` characters. */
export function cleanLong(text: string, piece = CLEAN_PIECE): string {
  if (text.length <= 2 * piece) return cleanOutput(text);
  const parts: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let cut = text.length - pos > piece ? cutBefore(text, pos, pos + piece) : text.length;
    if (cut === pos) cut = cutAfter(text, pos + piece); // a line longer than a piece
    parts.push(cleanOutput(text.slice(pos, cut)));
    pos = cut;
  }
  return parts.join("");
}

/** Longest marker text, so incremental searches can back up this far across chunk edges. */
export const MARKER_OVERLAP = 64;

/**
 * Turns raw terminal output into plain text: ANSI sequences removed, CRLF folded to LF, a bare
 * CR overwrites the line as a terminal would (progress bars keep their last state), backspace
 * erases, other control characters dropped.
 */
export function cleanOutput(raw: string): string {
  // "Erase line" right at a carriage return (progress output) must clear what was there; mark it
  // (with a Unicode noncharacter, which never occurs in real text) before strip-ansi removes the
  // sequence, and let overlay() honour the mark.
  // eslint-disable-next-line no-control-regex
  const marked = raw.includes("\x1b[") ? raw.replace(/\r\x1b\[[02]?K|\x1b\[2K\r/g, `\r${ERASE}`) : raw;
  // Line by line: strip-ansi matches an OSC or DCS body across line breaks, so one unterminated
  // `ESC ]` swallowed every line up to the next BEL; per line, cleaning also stays line-local.
  const stripped =
    marked.includes("\x1b") || marked.includes("\x9b")
      ? marked.split("\n").map(stripAnsi).join("\n")
      : marked;
  if (!stripped.includes("__SSHMCP_")) {
    const plain = foldPlainAscii(stripped);
    if (plain !== undefined) return plain;
  }
  // Fast path for the common case (plain lines ending in CRLF): whole-string passes only.
  let text = stripped.replace(/\r+\n/g, "\n");
  // A marker printed late (a nested shell's command ending when that shell exits) is noise here:
  // on a line of its own the line goes, else the marker alone. Within its own line, so cleaning
  // stays line-local (see cleanLong).
  if (text.includes("__SSHMCP_")) text = text.replace(LATE_MARKER, "");
  if (!text.includes("\r") && !text.includes("\b")) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  }
  // A terminal prints nothing for other control characters (NUL, BEL...): drop them first, so
  // they take no column in the overwrite below.
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/[\x00-\x07\x0b-\x0c\x0e-\x1f\x7f]/g, "").split("\n");
  const out: string[] = [];
  for (let line of lines) {
    if (line.endsWith("\r")) line = line.replace(/\r+$/, "");
    if (line.includes("\r")) line = overlay(line.split("\r"));
    if (line.includes("\b")) line = applyBackspace(line);
    out.push(line.replaceAll(ERASE, ""));
  }
  return out.join("\n");
}

const ERASE = "\ufdd0";

/** A late marker: with its line break when it is the whole line (after a LF, not just a CR). */
const LATE_MARKER =
  /(?<![^\n])__SSHMCP_[BE]_[0-9a-f]{16}(?:_\d{1,3})?__(?:\n|$)|__SSHMCP_[BE]_[0-9a-f]{16}(?:_\d{1,3})?__/g;

let scratch = Buffer.allocUnsafeSlow(256 * 1024);

/**
 * cleanOutput's result for ASCII text with no bare CR and no backspace (most output: lines
 * ending in CRLF), in one pass over its bytes: CR runs before LF dropped, control characters
 * other than tab and LF dropped. Undefined for anything else (the general path handles it).
 * Two regex replaces with a match per line cost 3-4 times as much on `seq`-like output.
 */
function foldPlainAscii(text: string): string | undefined {
  const n = text.length;
  if (Buffer.byteLength(text, "utf8") !== n) return undefined;
  if (scratch.length < n) {
    if (n > 4 * 1024 * 1024) return undefined; // not worth a buffer of its own
    scratch = Buffer.allocUnsafeSlow(n);
  }
  const buf = scratch;
  buf.write(text, 0, n, "latin1");
  let w = 0;
  for (let r = 0; r < n; r++) {
    const c = buf[r] as number;
    if (c >= 0x20 ? c !== 0x7f : c === 0x0a || c === 0x09) {
      buf[w++] = c;
    } else if (c === 0x0d) {
      let k = r + 1;
      while (k < n && buf[k] === 0x0d) k++;
      if (k >= n || buf[k] !== 0x0a) return undefined; // a bare CR overwrites: general path
      buf[w++] = 0x0a;
      r = k;
    } else if (c === 0x08) {
      return undefined; // backspace erases: general path
    }
  }
  return w === n ? text : buf.toString("latin1", 0, w);
}

function overlay(parts: string[]): string {
  let cur = "";
  for (const p of parts) {
    if (p.startsWith(ERASE)) cur = p.slice(1);
    else cur = p + cur.slice(p.length);
  }
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
  return capParts(text, text, text.length, max);
}

/**
 * capOutput of a text known by its start `head`, its end `tail` and its length `total`; exact
 * when each of head and tail holds at least `max` characters (or the whole text).
 */
export function capParts(
  head: string,
  tail: string,
  total: number,
  max: number,
): { output: string; truncated: boolean } {
  if (total <= max) return { output: head, truncated: false };
  let h = Math.floor(max / 4);
  let tailStart = total - (max - h);
  const tailBase = total - tail.length;
  // Never cut a surrogate pair in half.
  if (isHigh(head.charCodeAt(h - 1))) h--;
  if (isLow(tail.charCodeAt(tailStart - tailBase))) tailStart++;
  const omitted = tailStart - h;
  return {
    output:
      head.slice(0, h) +
      `\n... [${omitted} characters omitted; call get_command with output_offset to read them] ...\n` +
      tail.slice(tailStart - tailBase),
    truncated: true,
  };
}

/**
 * A command's cleaned output as it grows, holding O(hold) characters: all of it while it is
 * under 2 x hold, then only its first and last `hold` characters and its length. That is enough
 * for the capped reply (capParts, for any max <= hold); the whole is read again from the
 * transcript when someone pages through it. Holding 16 MB per command cost more in garbage
 * collection than cleaning it (every surviving piece is copied), and a hundred such commands
 * would have held gigabytes.
 */
export class OutputDigest {
  private pieces: string[] | undefined = [];
  private head = "";
  private tail: string[] = [];
  private tailLength = 0;
  length = 0;

  constructor(readonly hold: number) {}

  push(piece: string): void {
    if (!piece) return;
    this.length += piece.length;
    if (this.pieces) {
      this.pieces.push(piece);
      if (this.length <= 2 * this.hold) return;
      const all = this.pieces.join("");
      this.pieces = undefined;
      this.head = all.slice(0, this.hold);
      this.tail = [all.slice(-this.hold)];
      this.tailLength = this.hold;
      return;
    }
    this.tail.push(piece);
    this.tailLength += piece.length;
    while (this.tail.length > 1 && this.tailLength - (this.tail[0] as string).length >= this.hold) {
      this.tailLength -= (this.tail.shift() as string).length;
    }
  }

  /** The whole output, while it is held. */
  whole(): string | undefined {
    return this.pieces?.join("");
  }

  /** capOutput of this output followed by `rest` (not kept), for max <= hold. */
  cap(max: number, rest = ""): { output: string; truncated: boolean } {
    const whole = this.whole();
    if (whole !== undefined) return capOutput(whole + rest, max);
    const tail = this.tail.join("") + rest;
    return capParts(this.head, tail, this.length + rest.length, max);
  }
}

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * UTF-8 bytes one character adds to a tool reply. The reply carries the output twice: once
 * JSON-escaped in structuredContent, once inside the text content, which is itself a JSON string
 * (escaped twice). Budgets on this measure keep replies under the client's 10 MB cap whatever
 * the text (quotes, control characters, CJK).
 */
export function replyCost(code: number): number {
  if (code === 0x22 || code === 0x5c) return 2 + 4; // \"  and  \\\"
  if (code === 0x0a || code === 0x0d || code === 0x09 || code === 0x08 || code === 0x0c) return 2 + 3;
  if (code < 0x20) return 6 + 7;
  if (code < 0x80) return 2;
  if (code < 0x800) return 4;
  if (code >= 0xd800 && code <= 0xdfff) return 4; // half of a 4-byte character (see unitCost)
  return 6;
}

/** replyCost of the UTF-16 unit at i, knowing its neighbours: a lone surrogate is escaped (\udXXX). */
function unitCost(text: string, i: number): number {
  const code = text.charCodeAt(i);
  if (isHigh(code)) return isLow(text.charCodeAt(i + 1)) ? 4 : 13;
  if (isLow(code)) return isHigh(text.charCodeAt(i - 1)) ? 4 : 13;
  return replyCost(code);
}

/** Reply bytes `text` costs (see replyCost). */
export function replySize(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n += unitCost(text, i);
  return n;
}

/**
 * One page of output starting at `offset` whose reply cost fits `budget`. Always advances by at
 * least one character (a page is never empty while text remains), never splits a surrogate pair.
 */
export function pageOutput(
  text: string,
  offset: number,
  budget: number,
): { output: string; nextOffset: number | null } {
  let cost = 0;
  const start = Math.max(0, Math.min(offset, text.length));
  let i = start;
  while (i < text.length) {
    const c = unitCost(text, i);
    if (cost + c > budget && i > start) break;
    cost += c;
    i++;
  }
  if (i < text.length && i > start + 1 && isHigh(text.charCodeAt(i - 1))) i--;
  else if (i < text.length && i === start + 1 && isHigh(text.charCodeAt(start))) i++;
  return { output: text.slice(start, i), nextOffset: i < text.length ? i : null };
}

/** The longest tail of `text` whose reply cost fits `budget`. */
export function tailWithin(text: string, budget: number): { text: string; truncated: boolean } {
  let cost = 0;
  let i = text.length;
  while (i > 0) {
    const c = unitCost(text, i - 1);
    if (cost + c > budget) break;
    cost += c;
    i--;
  }
  if (i > 0 && isLow(text.charCodeAt(i))) i++;
  return { text: text.slice(i), truncated: i > 0 };
}
