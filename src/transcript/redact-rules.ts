/**
 * What counts as a secret in one line of plain text (escape sequences already taken out): the
 * token formats of secretlint's recommended preset, run through its rules' own synchronous
 * handlers, plus this project's key=value forms and a few formats the preset lacks. Returns
 * spans; redact.ts decides how to mask them and keeps the state across lines.
 */
/* eslint-disable no-control-regex -- terminal text: ESC and BEL end a value as whitespace does. */
import { rules as presetRules } from "@secretlint/secretlint-rule-preset-recommend";
import type {
  SecretLintRuleContext,
  SecretLintRuleReportHandler,
  SecretLintSourceCode,
} from "@secretlint/types";

/** A piece of a line to replace: plain-text [start, end) and what goes in its place. */
export interface Span {
  start: number;
  end: number;
  mask: string;
}

export const MASK = "[REDACTED]";

/**
 * Every rule below needs one of these in the line, so a line without any skips them all. Token
 * formats are long runs of token characters (20+: the preset's shortest real token, an AWS key
 * id, is 20), so this holds for rules the preset adds later too; URL credentials, key words,
 * mysql's -p, curl's -u and a PEM header are named. An escape sequence sends the line to the
 * slow path, where this is tested again on the plain text (colours may split a key word).
 */
export const PREFILTER =
  /(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{20}|pass|pwd|secret|token|key|credential|authori|bearer|basic|:\/\/|mysql|mariadb|-u[ \t]|-user|xox|eyJ|\x1b/i;

/** The same test, global, to find the next line that needs a look in a block. */
export const PREFILTER_G = new RegExp(PREFILTER.source, "gi");

/**
 * What the preset's rules need (a long token run, a URL, a Slack prefix): its 25 handlers cost
 * ~75 us a call whatever the length, so they run only on lines with one, and once per block.
 */
export const PRESET_GATE = /(?<![A-Za-z0-9_+=-])[A-Za-z0-9_+=-]{20}|:\/\/|xox/;

// --- secretlint's recommended preset ---------------------------------------------------------

let reports: Array<readonly [number, number]> = [];
const context = {
  sharedOptions: {},
  // Messages are not shown: only the ranges matter.
  createTranslator: () => (id: string) => ({ message: id, data: {} }),
  report: (d: { range: readonly [number, number] }) => void reports.push(d.range),
  ignore: () => undefined,
} as unknown as SecretLintRuleContext;

/** AWS access key ids (AKIA...) are off by default in the preset: on here. */
const OPTIONS: Record<string, object> = { "@secretlint/secretlint-rule-aws": { enableIDScanRule: true } };

const scanners: SecretLintRuleReportHandler[] = presetRules
  .filter((r) => r.meta.type === "scanner" && r.meta.supportedContentTypes.some((t) => t !== "binary"))
  .map((r) => r.create(context, OPTIONS[r.meta.id] ?? {}));

function source(content: string): SecretLintSourceCode {
  // Not a file: rules that look at file names (.npmrc, .p12, service-account .json) skip it.
  return {
    hasBOM: false,
    content,
    filePath: undefined,
    physicalFilePath: undefined,
    contentType: "text",
    ext: "",
    getFilePath: () => undefined,
    getPhysicalFilePath: () => undefined,
    locationToRange: () => [0, 0],
    rangeToLocation: () => ({ start: { line: 1, column: 0 }, end: { line: 1, column: 0 } }),
    positionToIndex: () => 0,
    indexToPosition: () => ({ line: 1, column: 0 }),
  };
}

/** Ranges the preset's rules report in `plain`; a rule that throws is skipped, never the tap. */
export function presetRanges(plain: string): Array<readonly [number, number]> {
  reports = [];
  const src = source(plain);
  for (const s of scanners) {
    try {
      const p = s.file?.(src);
      // Only the file-type rules (.p12) are async, and they never run here.
      if (p) p.catch(() => undefined);
    } catch {
      // A rule's bug must not stop the output; the other rules still run.
    }
  }
  return reports;
}

const TOKEN_CHAR = /[A-Za-z0-9+/=_-]/;
const URL_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:([^\s@/]+)@/i;
const KEY_PREFIX = /^["']?[A-Za-z_][\w.-]*["']?[ \t]*(?:=>|[=:])(?!\/\/)[ \t]*["']?/;

/**
 * The span to mask for a range the preset reported: only the password of a URL, only the value
 * of a key=value match, and never less than the whole token (the AWS secret-key rule reports the
 * key's length from the start of the whole match, so its end is extended over token characters).
 */
function presetSpan(plain: string, start: number, end: number): Span {
  while (end < plain.length && TOKEN_CHAR.test(plain[end] ?? "")) end++;
  const text = plain.slice(start, end);
  const url = URL_CREDENTIALS.exec(text);
  if (url?.[1]) {
    const at = start + url[0].length - 1 - url[1].length;
    return { start: at, end: at + url[1].length, mask: MASK };
  }
  const key = KEY_PREFIX.exec(text);
  if (key && key[0].length < text.length) {
    const quoted = /["']$/.test(key[0]) && /["']$/.test(text);
    return { start: start + key[0].length, end: quoted ? end - 1 : end, mask: MASK };
  }
  return { start, end, mask: MASK };
}

// --- this project's forms ---------------------------------------------------------------------

/** A value: quoted (masked inside the quotes) or bare. */
// A quote still open at the end of the text is a value cut by a read: masked up to there.
const VALUE = String.raw`(?:"(?<dq>[^"\r\n\x07\x1b]*)(?:"|(?=\r?\n?$))|'(?<sq>[^'\r\n\x07\x1b]*)(?:'|(?=\r?\n?$))|(?<bare>[^\s"',;}&\x07\x1b]+))`;
/** The value part of `[SECRET:name]` as the key-value rule reads it: the name, the bracket, punctuation. */
const OWN_MASK_VALUE = /^[A-Za-z][A-Za-z0-9_-]{0,63}\][^A-Za-z0-9]*$/;

const WORD = String.raw`pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?key|key[_-]?data|auth[_-]?key|credentials?`;

const ERROR_AFTER = /^(?:No such file|Permission denied|Is a directory|Not a directory|command not found)/;

interface Rule {
  name: string;
  /** A cheap test a line must pass before `re` (with its group indices) runs on it. */
  need: RegExp;
  re: RegExp;
  /** Extra check on a match; false drops it. */
  accept?: (m: RegExpExecArray) => boolean;
}

const RULES: Rule[] = [
  {
    // KEY=v, key: v, "key": "v", --key=v, a.key.b=v, SECRET_KEY='v'; the key word may have a
    // prefix (DB_PASSWORD, clientSecret) and a suffix after a separator or a capital
    // (SECRET_KEY, passwordHash), not a plain-letter one ("tokens: none" is prose).
    name: "key-value",
    need: /pass|pwd|secret|token|key|credential/i,
    re: new RegExp(
      String.raw`(?<![A-Za-z0-9])(?<key>[A-Za-z0-9_.-]*?(?<word>${WORD})(?<suffix>[A-Za-z0-9_.-]*))["']?[ \t]*(?<conn>=>|[=:])[ \t]*${VALUE}`,
      "gid",
    ),
    accept: (m) => {
      const g = m.groups ?? {};
      const suffix = g.suffix ?? "";
      const word = g.word ?? "";
      if (suffix && !/^[_.-]/.test(suffix)) {
        // A capital after a lower-case key word starts a new word (passwordHash); TOKENS does not.
        const lowerWord = word !== word.toUpperCase();
        if (!lowerWord || !/^[A-Z]/.test(suffix)) return false;
      }
      // grep -c / -n output: "secrets.yml:3" is a file name and a count, not a secret.
      if (g.conn === ":" && /\.[A-Za-z0-9]{1,6}$/.test(suffix) && /^\d+$/.test(g.bare ?? "")) return false;
      // ssh-mcp's own mask of a declared secret, `[SECRET:name]` (docs/security.md): already masked.
      if (g.key === "SECRET" && m.input[m.index - 1] === "[" && OWN_MASK_VALUE.test(g.bare ?? ""))
        return false;
      // Settings, not secrets: PasswordAuthentication=no, "password_required": true.
      if (/^(?:yes|no|true|false)$/i.test(g.bare ?? "")) return false;
      // An error about a file named like a key word: "cat: token: No such file or directory".
      return !ERROR_AFTER.test(m.input.slice(m.indices?.groups?.bare?.[0] ?? m.input.length));
    },
  },
  {
    // --password X, --client-secret X, --token X (the = form is key-value's).
    name: "option",
    need: /--/,
    re: new RegExp(String.raw`(?<![\w-])--[\w-]*?(?:${WORD})[\w-]*[ \t]+(?!-)${VALUE}`, "gid"),
  },
  {
    // mysql -pX (mysql's password is glued to -p; -P is the port).
    name: "mysql-p",
    need: /mysql|mariadb/,
    re: /\b(?:mysql|mariadb)[\w-]*\b[^\n]*?(?<=\s)-p(?:"(?<dq>[^"]*)"|'(?<sq>[^']*)'|(?<bare>[^\s\x07\x1b]+))/dg,
  },
  {
    // scheme://user:PASS@host, any scheme (postgres, redis, amqp, https, ...).
    name: "url-credentials",
    need: /:\/\//,
    re: /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:@/]*:(?<bare>[^\s@/\x07\x1b]+)@/dg,
  },
  {
    // Authorization: Basic xxx / Bearer xxx / anything: the scheme stays, the rest of the value goes.
    name: "authorization",
    need: /authori[sz]ation/i,
    re: /\b(?:Proxy-)?Authori[sz]ation["']?[ \t]*[:=][ \t]*["']?(?:(?:Basic|Bearer|Token|Digest|Negotiate|NTLM|ApiKey)[ \t]+)?(?<bare>[^\s"'\x07\x1b][^\r\n"'\x07\x1b]*)/dgi,
  },
  { name: "bearer", need: /Bearer/, re: /\bBearer[ \t]+(?<bare>[A-Za-z0-9._~+/=-]{8,})/dg },
  {
    // "Basic <base64 of user:pass>" outside a header (a log line, curl -v).
    name: "basic",
    need: /Basic/,
    re: /\bBasic[ \t]+(?<bare>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])/dg,
    accept: (m) =>
      /^[\x20-\x7e]+:[\x20-\x7e]*$/.test(Buffer.from(m.groups?.bare ?? "", "base64").toString("latin1")),
  },
  {
    // curl -u user:pass, --user, --proxy-user.
    name: "user-option",
    need: /-u|--user|--proxy-user/,
    re: /(?<![\w-])(?:-u|--user|--proxy-user)[ \t]+["']?[^\s:"']+:(?<bare>[^\s"'\x07\x1b]+)/dg,
  },
  // Formats the preset (v12) does not know.
  { name: "jwt", need: /eyJ/, re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/dg },
  { name: "google-api-key", need: /AIza/, re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/dg },
  { name: "stripe", need: /k_live_|k_test_/, re: /\b[rs]k_(?:live|test)_[0-9A-Za-z]{24,}\b/dg },
];

function ruleSpans(plain: string, out: Span[]): void {
  for (const rule of RULES) {
    if (!rule.need.test(plain)) continue;
    rule.re.lastIndex = 0;
    for (const m of plain.matchAll(rule.re)) {
      if (rule.accept && !rule.accept(m)) continue;
      const idx = m.indices?.groups;
      const at = idx?.dq ?? idx?.sq ?? idx?.bare ?? m.indices?.[0];
      if (at && at[1] > at[0]) out.push({ start: at[0], end: at[1], mask: MASK });
    }
  }
}

/**
 * The secrets in one line of plain text, sorted and merged where they overlap. Cheap when the
 * line has nothing PREFILTER looks for. `preset`: the preset's ranges in this line when they
 * were found for a whole block at once.
 */
export function findSecrets(plain: string, preset?: ReadonlyArray<readonly [number, number]>): Span[] {
  if (!PREFILTER.test(plain)) return [];
  const spans: Span[] = [];
  const ranges = preset ?? (PRESET_GATE.test(plain) ? presetRanges(plain) : []);
  for (const [s, e] of ranges) if (e > s) spans.push(presetSpan(plain, s, e));
  ruleSpans(plain, spans);
  return mergeSpans(spans);
}

const URL_OPEN_END = /\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:@/]*:(?<bare>[^\s@/]+)$/d;

/**
 * For a line let go before its end: a URL whose user:password is not yet followed by its `@`
 * may be one, and what is emitted cannot be taken back. A port that would have followed is
 * masked too, the price of not leaking a password.
 */
export function openEndSecrets(plain: string): Span[] {
  const at = URL_OPEN_END.exec(plain)?.indices?.groups?.bare;
  return at ? [{ start: at[0], end: at[1], mask: MASK }] : [];
}

/** Sorted, overlapping spans joined (the first one's mask kept). */
export function mergeSpans(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start < last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}
