import stripAnsi from "strip-ansi";

/**
 * Cleaning terminal bytes into plain text: ANSI sequences removed, CRLF folded, a bare CR
 * overwriting the line, backspace erasing, late markers dropped. Line-local, so it can be done
 * piece by piece as output streams in (cleanLong, CommandCapture). Pure, unit-tested on its own.
 */

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
/**
 * Drops the echoed input line, and anything before it (the tail of the previous prompt may
 * arrive after the command was sent), from the front of raw-mode output.
 */
export function dropEcho(output: string, echo: string | undefined): string {
  const first = echo?.split("\n")[0]?.trim();
  if (!first) return output;
  const i = output.indexOf(first);
  if (i === -1 || i > 1024) return output;
  let nl = output.indexOf("\n", i + first.length);
  // Typed while the previous output was still arriving, the line can show twice (the tty's echo,
  // then readline redrawing it after the prompt): drop the repeats that follow at once.
  for (;;) {
    if (nl === -1) return "";
    const next = output.indexOf("\n", nl + 1);
    const line = output.slice(nl + 1, next === -1 ? undefined : next);
    // The line again, alone or after a prompt: not a line of output that mentions it.
    const t = line.trimEnd();
    const again = t === first || (t.endsWith(first) && /[$#%>] $/.test(t.slice(0, -first.length)));
    if (!again) return output.slice(nl + 1);
    nl = next;
  }
}
