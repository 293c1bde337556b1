/**
 * Redaction of received text (`security.redact_transcripts`, on by default): values after
 * password=/token:/secret=/api_key=, `Bearer ...` tokens and whole private key blocks become
 * [REDACTED] before they reach the transcript (and so every tool result and the viewer).
 * Works line by line, so a secret split across two reads is still caught: the tap holds back
 * an incomplete last line briefly (see tap.ts).
 */
// The key may carry a prefix (DB_PASSWORD, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY) and quotes (JSON).
const VALUE =
  /((?<![A-Za-z0-9])[A-Za-z0-9_.-]*?(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s"',;}]+)/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g;
const KEY_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;
const KEY_END = /-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/;

/** A key block never longer than this: an unterminated BEGIN (head -2 key) must not hide the rest. */
const MAX_KEY_LINES = 200;

/**
 * Every pattern above needs one of these words, so a block without any (most output: listings,
 * numbers, logs) skips the per-line regexes. A match that spans lines here only costs the slow
 * path; a line that matches on its own always contains one.
 */
const TRIGGER = /pass|pwd|secret|token|key|credential|bearer/i;

/** Whether a text has a word every redaction pattern needs (so it may hold a secret, or its start). */
export function mayHoldSecret(text: string): boolean {
  return TRIGGER.test(text);
}

export class Redactor {
  private inKey = false;
  private keyLines = 0;

  /** Redacts a block of complete lines (it ends in \n): per line, or at once when no line can match. */
  block(text: string): string {
    if (!this.inKey && !TRIGGER.test(text)) return text;
    let out = "";
    for (const line of text.split(/(?<=\n)/)) out += this.line(line);
    return out;
  }

  /** Redacts complete lines (each ending in \n, or the final piece of a flush). */
  line(text: string): string {
    if (this.inKey) {
      const end = KEY_END.exec(text);
      if (!end) {
        if (++this.keyLines < MAX_KEY_LINES) return "";
        this.inKey = false;
        return redactValues(text);
      }
      this.inKey = false;
      return text.slice(end.index);
    }
    const begin = KEY_BEGIN.exec(text);
    if (begin) {
      const head = text.slice(0, begin.index + begin[0].length);
      const rest = text.slice(begin.index + begin[0].length);
      if (KEY_END.test(rest)) return head + " [REDACTED PRIVATE KEY] " + rest.slice(rest.search(KEY_END));
      this.inKey = true;
      this.keyLines = 0;
      return `${redactValues(head)}${rest}[REDACTED PRIVATE KEY]\r\n`;
    }
    return redactValues(text);
  }
}

export function redactValues(text: string): string {
  return text.replace(VALUE, "$1[REDACTED]").replace(BEARER, "$1[REDACTED]");
}
