/**
 * The text a terminal line shows, for redaction: escape sequences that only format (colours,
 * cursor moves, charset switches) are taken out so a keyword that grep --color wrapped in SGR
 * codes still reads as one word, with a map back to the raw positions so the output keeps them.
 * OSC/DCS payloads (a window title, a hyperlink's URL) stay in: only their introducers go, so a
 * secret in a title is still seen.
 */

// CSI; ESC ] / P / X / ^ / _ introducers (with an OSC number and ';'); other ESC sequences but
// ST (ESC \\). The terminators (BEL, ST) stay in the plain text: they end a value there, as
// whitespace would, so a title's secret is not read on into the prompt after it.
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][0-9]*;?|\x1b[PX^_]|\x1b[ -/]*[0-[\]-~]/g;

export interface PlainText {
  /** The raw text with the formatting sequences taken out. */
  plain: string;
  /** Raw [start, end) of each sequence taken out, in order. */
  escapes: Array<[number, number]>;
}

/** Splits a raw line into what it shows and where the sequences were. */
export function plainText(raw: string): PlainText {
  if (!raw.includes("\x1b")) return { plain: raw, escapes: [] };
  const escapes: Array<[number, number]> = [];
  let plain = "";
  let at = 0;
  for (const m of raw.matchAll(ESCAPE)) {
    plain += raw.slice(at, m.index);
    escapes.push([m.index, m.index + m[0].length]);
    at = m.index + m[0].length;
  }
  return { plain: plain + raw.slice(at), escapes };
}

/** Raw index of the character at plain index i (of the plain end, for i = plain.length). */
export function toRaw(t: PlainText, i: number): number {
  let r = i;
  for (const [a, b] of t.escapes) {
    if (a > r) break;
    r += b - a;
  }
  return r;
}
