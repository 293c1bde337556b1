/**
 * Redaction of received text (`security.redact_transcripts`, on by default): secrets become
 * [REDACTED] before they reach the transcript (and so every tool result and the viewer), and
 * get_screen and prompt lines go through redactValues.
 *
 * Design note: where the rules come from.
 * - Token formats (AWS, GitHub, GitLab, Slack, npm, OpenAI, Anthropic, SendGrid, HashiCorp
 *   Vault, Docker, Hugging Face, database URLs, basic-auth URLs, ...) are secretlint's
 *   recommended preset (@secretlint/secretlint-rule-preset-recommend, a dependency, so an
 *   upgrade brings new formats). Its lint engine (@secretlint/core) is async and file-oriented;
 *   the tap needs a synchronous answer per line. The preset exports its rule creators and their
 *   `file()` handlers are synchronous for text, so redact-rules.ts drives them directly with a
 *   minimal rule context and masks the ranges they report: the rules' own regexes and filters
 *   (placeholder lists, allow-lists), nothing copied. Version 12.0.0 is the last that supports
 *   Node 20 (12.2+ needs Node 22); gitleaks' rules were not taken because no maintained npm
 *   package ships them (they are Go/RE2, with inline flags that JS lacks).
 * - The forms a terminal shows that the preset does not look for (key=value in env, YAML, JSON,
 *   properties, `--password X`, mysql's `-pX`, any scheme://user:pass@, Authorization headers,
 *   curl -u) and three formats it lacks (JWT, Google API key, Stripe) are redact-rules.ts's own.
 *   `PasswordAuthentication yes` (sshd_config) is left as it is: no key=value connector; with
 *   one (`-o PasswordAuthentication=no`) a yes/no/true/false value is a setting, not a secret.
 * - Private key blocks are masked here, line by line, from BEGIN to END.
 *
 * The decision is taken on the plain text of a line (plain-text.ts: colours and other escape
 * sequences out), so a keyword that grep --color wrapped in SGR codes is still a keyword; the
 * output is the raw line with only the secret's characters replaced, colours kept.
 *
 * Works line by line, so a secret split across two reads is still caught: the tap holds back an
 * incomplete last line briefly (see tap.ts), and when it has to let one go (after HOLD_MS), the
 * redactor remembers that open line: when its value comes, however late, it is redacted with
 * the key it follows, as long as no line break came between.
 *
 * Cost: a fast prefilter (redact-rules.ts PREFILTER: a 20-character token run, a key word, a
 * URL, an escape sequence) finds the lines that need a look; the others are copied as they are.
 */
import { fromJoined, keptInMask, moveStart, plainText, toRaw, type PlainText } from "./plain-text.js";
import {
  findSecrets,
  mergeSpans,
  openEndSecrets,
  PREFILTER,
  PREFILTER_G,
  PRESET_GATE,
  presetRanges,
  type Span,
} from "./redact-rules.js";

const KEY_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
const KEY_END = /-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
const KEY_MARK = "[REDACTED PRIVATE KEY]";

/** A key block never longer than this: an unterminated BEGIN (head -2 key) must not hide the rest. */
const MAX_KEY_LINES = 200;
/** An open line is kept up to this long; beyond, only its tail is (a progress bar never ends its line). */
const MAX_OPEN = 8192;
const OPEN_TAIL = 1024;

/**
 * Whether redaction may change this text, or a text that continues it (it has a key word, a
 * token-like run, a URL or an escape sequence). False means the text can be passed as it is.
 */
export function mayHoldSecret(text: string): boolean {
  return PREFILTER.test(text);
}

/** What a line has been so far when it was let go before its end. */
interface OpenLine {
  raw: string;
  /** Whether what was emitted ends inside a masked span (its continuation then adds no mask). */
  masked: boolean;
}

/** A line of a block that needs a look, with its plain text and the preset's ranges in it. */
interface Candidate {
  start: number;
  end: number;
  t: PlainText;
  preset: Array<readonly [number, number]>;
}

export class Redactor {
  private inKey = false;
  private keyLines = 0;
  private open: OpenLine | null = null;

  /**
   * Redacts a block of text: complete lines, and a last unfinished one, which stays open (see
   * line). A block with nothing the prefilter looks for costs one regex pass; the preset's rules
   * run once for all the lines of a block that need them.
   */
  block(text: string): string {
    let out = "";
    let i = 0;
    if (this.open || this.inKey) {
      const nl = text.indexOf("\n");
      i = nl === -1 ? text.length : nl + 1;
      out = this.line(text.slice(0, i));
    }
    const cands = candidates(text, i);
    let next = 0;
    while (i < text.length) {
      const c = cands[next];
      if (!this.inKey && !this.open) {
        if (!c) {
          // Nothing more to redact; a last unfinished line still becomes the open line.
          const end = text.lastIndexOf("\n") + 1;
          if (end >= text.length) return out + text.slice(i);
          return out + text.slice(i, end) + this.line(text.slice(end));
        }
        out += text.slice(i, c.start);
        i = c.start;
      }
      const nl = text.indexOf("\n", i);
      const end = nl === -1 ? text.length : nl + 1;
      if (c && c.start === i) {
        next++;
        out += this.redactLine(text.slice(i, end), c);
      } else {
        out += this.line(text.slice(i, end));
      }
      i = end;
    }
    return out;
  }

  /**
   * Redacts one line, or the next piece of one: text ending in \n closes the line; text without
   * one (the tap letting a held line go) is emitted now and the line stays open, so the rest,
   * when it comes, is redacted together with it (a key here, its value later).
   */
  line(text: string): string {
    return this.redactLine(text);
  }

  private redactLine(text: string, prepared?: Candidate): string {
    const open = this.open;
    const raw = open ? open.raw + text : text;
    const from = open ? open.raw.length : 0;
    const complete = text.endsWith("\n");
    const t = !open && prepared ? prepared.t : plainText(raw);
    const found = this.spansOf(t, complete, open ? undefined : prepared?.preset);
    const { after } = found;
    const spans =
      complete || this.inKey ? found.spans : mergeSpans([...found.spans, ...openEndSecrets(t.plain)]);
    const out = render(raw, t, spans, from, open?.masked ?? false) + after;
    if (complete) {
      this.open = null;
    } else {
      const last = t.plain.length - 1;
      const masked = last >= 0 && spans.some((s) => s.start <= last && last < s.end);
      this.open = { raw: raw.length > MAX_OPEN ? raw.slice(-OPEN_TAIL) : raw, masked };
    }
    return out;
  }

  /** What to mask in a line (and a marker to add after it); moves the key-block state at a line's end. */
  private spansOf(
    t: PlainText,
    complete: boolean,
    preset?: Array<readonly [number, number]>,
  ): { spans: Span[]; after: string } {
    const plain = t.plain;
    const find = () => secretsIn(t, preset);
    const eol = /\r?\n$/.exec(plain)?.[0] ?? "";
    const contentEnd = plain.length - eol.length;
    if (this.inKey) {
      const end = KEY_END.exec(plain);
      if (!end) {
        if (!complete) return { spans: [{ start: 0, end: plain.length, mask: "" }], after: "" };
        if (++this.keyLines < MAX_KEY_LINES)
          return { spans: [{ start: 0, end: plain.length, mask: "" }], after: "" };
        this.inKey = false;
        return { spans: find(), after: "" };
      }
      if (complete) this.inKey = false;
      const rest = find().filter((s) => s.start >= end.index + end[0].length);
      return { spans: [{ start: 0, end: end.index, mask: "" }, ...rest], after: "" };
    }
    const begin = KEY_BEGIN.exec(plain);
    if (!begin) return { spans: find(), after: "" };
    const bodyStart = begin.index + begin[0].length;
    const found = find();
    const end = KEY_END.exec(plain.slice(bodyStart));
    if (end) {
      const bodyEnd = bodyStart + end.index;
      const outside = found.filter((s) => s.end <= begin.index || s.start >= bodyEnd + end[0].length);
      return {
        spans: mergeSpans([{ start: bodyStart, end: bodyEnd, mask: ` ${KEY_MARK} ` }, ...outside]),
        after: "",
      };
    }
    // Unterminated on this line: the block goes on below. Anything after BEGIN here is key material.
    const before = found.filter((s) => s.end <= begin.index);
    const inline = plain.slice(bodyStart, contentEnd).trim() !== "";
    const spans = inline ? [...before, { start: bodyStart, end: contentEnd, mask: ` ${KEY_MARK}` }] : before;
    if (!complete) return { spans, after: "" };
    this.inKey = true;
    this.keyLines = 0;
    return { spans, after: inline ? "" : KEY_MARK + (eol || "\n") };
  }
}

/**
 * The secrets of a line in both its readings: rows apart (cursor moves as separators), and, when
 * it has cursor moves, rows run together (a token drawn across two rows), carried over.
 */
function secretsIn(t: PlainText, preset?: Array<readonly [number, number]>): Span[] {
  const apart = findSecrets(t.plain, preset);
  if (t.joined === undefined) return apart;
  const together = findSecrets(t.joined).map((s) => ({
    ...s,
    start: fromJoined(t, s.start),
    end: fromJoined(t, s.end - 1) + 1,
  }));
  return together.length ? mergeSpans([...apart, ...together]) : apart;
}

/**
 * The raw line from raw index `from` on, each span replaced by its mask (escape sequences inside
 * a span kept, so colours stay balanced). A span that began before `from` adds no mask when
 * what was emitted already ended masked.
 */
function render(raw: string, t: PlainText, spans: Span[], from: number, continuesMasked: boolean): string {
  let out = "";
  let pos = from;
  for (const s of spans) {
    if (s.end <= s.start) continue;
    // A span that starts on a cursor move's separator starts with the whole sequence.
    const rs = moveStart(t, toRaw(t, s.start));
    const re = toRaw(t, s.end - 1) + 1;
    if (re <= from) continue;
    if (rs > pos) out += raw.slice(pos, rs);
    if (rs >= from || !continuesMasked) out += s.mask;
    const lo = Math.max(rs, from);
    for (const [a, b] of t.escapes) if (a >= lo && b <= re) out += keptInMask(t, raw, a, b);
    pos = Math.max(pos, re);
  }
  return out + raw.slice(pos);
}

/**
 * The lines from `from` on that need a look: the raw text has something the prefilter looks for
 * and so does the plain text. The preset's rules run once on all of them that pass its gate.
 */
function candidates(text: string, from: number): Candidate[] {
  const out: Candidate[] = [];
  const gated: Candidate[] = [];
  PREFILTER_G.lastIndex = from;
  for (let hit = PREFILTER_G.exec(text); hit; hit = PREFILTER_G.exec(text)) {
    const start = text.lastIndexOf("\n", hit.index - 1) + 1;
    const nl = text.indexOf("\n", hit.index);
    const end = nl === -1 ? text.length : nl + 1;
    const t = plainText(text.slice(start, end));
    const c: Candidate = { start, end, t, preset: [] };
    out.push(c);
    // Without escapes the plain text is the raw one, which the prefilter just matched.
    if ((t.escapes.length === 0 || PREFILTER.test(t.plain)) && PRESET_GATE.test(t.plain)) gated.push(c);
    PREFILTER_G.lastIndex = end;
  }
  if (gated.length === 0) return out;
  // One run over the gated lines' plain texts put end to end (each keeps its own \n).
  const offsets: number[] = [];
  let joined = "";
  for (const c of gated) {
    offsets.push(joined.length);
    joined += c.t.plain;
  }
  for (const [s, e] of presetRanges(joined)) {
    let k = offsets.length - 1;
    while (k > 0 && (offsets[k] ?? 0) > s) k--;
    const c = gated[k];
    const base = offsets[k] ?? 0;
    if (c) c.preset.push([s - base, Math.min(e - base, c.t.plain.length)]);
  }
  return out;
}

/**
 * Redacts a whole text at once (a screen, a prompt line): every line, key blocks included, as a
 * fresh Redactor would. The last line may lack its \n.
 */
export function redactValues(text: string): string {
  return maskOrphanKeyBody(new Redactor().block(text));
}

/** One text, any number of lines (a pasted key block included), through a fresh redactor. */
export function redactText(text: string): string {
  const closed = text.endsWith("\n");
  const out = new Redactor().block(closed ? text : text + "\n");
  return closed ? out : out.replace(/\r?\n$/, "");
}

/** A line of a key body: base64, or a PEM header (Proc-Type, DEK-Info). */
const KEY_BODY_LINE = /^\s*([A-Za-z0-9+/=]{16,}|Proc-Type: .*|DEK-Info: .*|)\s*$/;

/**
 * A screen or a page of output can start inside a key block (its BEGIN line scrolled off): the
 * body lines above an END line with no BEGIN before it are masked too.
 */
function maskOrphanKeyBody(text: string): string {
  if (!KEY_END.test(text)) return text;
  const lines = text.split("\n");
  let open = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (KEY_BEGIN.test(line)) open = !KEY_END.test(line.slice(line.search(KEY_BEGIN)));
    else if (KEY_END.test(line)) {
      if (!open) {
        let j = i;
        while (j > 0 && KEY_BODY_LINE.test(lines[j - 1] as string) && lines[j - 1] !== KEY_MARK) j--;
        if (j < i) lines.splice(j, i - j, KEY_MARK);
        i = j + 1;
      }
      open = false;
    }
  }
  return lines.join("\n");
}
