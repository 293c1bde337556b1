/**
 * Reply budgets: capping a long output to its head and tail (capOutput, capParts), holding only
 * head and tail of a long output as it grows (OutputDigest), and measuring and paging replies in
 * the bytes they cost (replyCost, pageOutput, tailWithin). Pure, unit-tested on its own.
 */

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
