/**
 * The text a terminal line shows, for redaction decisions, with a map back to the raw positions
 * so the output keeps every byte it does not mask:
 * - escape sequences that only format (colours, charset switches, modes) are taken out, so a key
 *   word that grep --color wrapped in SGR codes still reads as one word;
 * - a sequence that moves the cursor stands as a separator: a line break when it goes to another
 *   row (a full-screen program draws rows with cursor moves, not line breaks: without it the end
 *   of one row would be read on into the start of the next), a space when it moves along the row;
 * - an overstrike (`x BS y`: less and man pages, the auto-margin ` BS` at a wrap) shows only what
 *   was written last, so a token split by one is read whole;
 * - escape sequences shown as text (less and `cat -v` print ESC as `ESC` or `^[`) are formatting
 *   too, so a coloured key word in a log viewed without -R is still a word.
 * OSC/DCS payloads (a window title, a hyperlink's URL) stay in: only their introducers go, so a
 * secret in a title is still seen.
 */

// CSI; ESC ] / P / X / ^ / _ introducers (with an OSC number and ';'); other ESC sequences but
// ST (ESC \\); an overstruck character and its backspace; CSI shown as text (less shows the
// `ESC` itself in standout: SGR codes may stand between it and the `[`). The terminators
// (BEL, ST) stay in the plain text: they end a value there, as whitespace would, so a title's
// secret is not read on into the prompt after it.
const ESCAPE =
  // eslint-disable-next-line no-control-regex
  /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][0-9]*;?|\x1b[PX^_]|\x1b[ -/]*[0-[\]-~]|[^\x1b\n]\x08|(?:ESC|\^\[)(?:\x1b\[[0-9;]*m)*\[[0-?]*[ -/]*[@-~]/g;

/** CSI finals and ESC sequences that move the cursor to another row, or along the row. */
// eslint-disable-next-line no-control-regex
const TO_ROW = /^(?:\x1b\[[0-?]*[ -/]*[HfABEFd]|\x1b[MDE8])$/;
// eslint-disable-next-line no-control-regex
const ALONG_ROW = /^\x1b\[[0-?]*[ -/]*[CG`a]$/;

export interface PlainText {
  /** What the line shows: formatting taken out, cursor moves as separators. */
  plain: string;
  /**
   * The same with cursor moves taken out too (rows run together), only when the line has any: a
   * long token a program drew across two rows is found whole there. Detection reads both.
   */
  joined?: string;
  /** Plain indices of the separators (ascending), to carry a span found in `joined` over. */
  seps?: number[];
  /**
   * Raw starts of overstrikes taken out (`x BS`): the struck character is text, not formatting,
   * so a mask never puts it back (a bold secret is `c BS c` for each of its characters).
   */
  struck?: Set<number>;
  /**
   * Raw [start, end) taken out of the plain text, in order. A cursor move stands in the plain
   * text as one separator character: its range ends one short of the sequence, and the
   * separator stands where the sequence's last raw character is.
   */
  escapes: Array<[number, number]>;
  /** The whole raw range of each cursor move shown as a separator, by its start. */
  moves: Map<number, number>;
}

const NONE = new Map<number, number>();

/** Whether a raw line needs more than itself as its plain text. */
function mayFormat(raw: string): boolean {
  return raw.includes("\x1b") || raw.includes("\b") || raw.includes("ESC[") || raw.includes("^[[");
}

/** Splits a raw line into what it shows and where the sequences were. */
export function plainText(raw: string): PlainText {
  if (!mayFormat(raw)) return { plain: raw, escapes: [], moves: NONE };
  const escapes: Array<[number, number]> = [];
  const moves = new Map<number, number>();
  const seps: number[] = [];
  const struck = new Set<number>();
  let plain = "";
  let joined = "";
  let at = 0;
  for (const m of raw.matchAll(ESCAPE)) {
    const start = m.index;
    const end = start + m[0].length;
    plain += raw.slice(at, start);
    joined += raw.slice(at, start);
    const sep = TO_ROW.test(m[0]) ? "\n" : ALONG_ROW.test(m[0]) ? " " : "";
    if (sep) {
      escapes.push([start, end - 1]);
      moves.set(start, end);
      seps.push(plain.length);
      plain += sep;
    } else {
      escapes.push([start, end]);
      if (m[0].endsWith("\b")) struck.add(start);
    }
    at = end;
  }
  const tail = raw.slice(at);
  return {
    plain: plain + tail,
    escapes,
    moves,
    ...(seps.length ? { joined: joined + tail, seps } : {}),
    ...(struck.size ? { struck } : {}),
  };
}

/** The plain index (in `t.plain`) of index j of `t.joined`. */
export function fromJoined(t: PlainText, j: number): number {
  const seps = t.seps ?? [];
  let k = 0;
  while (k < seps.length && (seps[k] as number) <= j + k) k++;
  return j + k;
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

/** The raw start of the cursor move whose separator is at raw index r, else r itself. */
export function moveStart(t: PlainText, r: number): number {
  for (const [a, end] of t.moves) if (end - 1 === r) return a;
  return r;
}

/**
 * What a mask puts back of a sequence taken out inside it: the whole sequence (a cursor move
 * too), so colours and positions stay; nothing of an overstrike, whose character is text.
 */
export function keptInMask(t: PlainText, raw: string, a: number, b: number): string {
  if (t.struck?.has(a)) return "";
  return raw.slice(a, t.moves.get(a) ?? b);
}
