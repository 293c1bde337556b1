import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  capOutput,
  OutputDigest,
  pageOutput,
  replyCost,
  replySize,
  tailWithin,
} from "../../src/session/output/budget.js";

function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

describe("capOutput", () => {
  it("returns short text unchanged", () => {
    expect(capOutput("short", 10)).toEqual({ output: "short", truncated: false });
    expect(capOutput("x".repeat(10), 10)).toEqual({ output: "x".repeat(10), truncated: false });
  });

  it("keeps a quarter as head and the rest as tail, with a note of how many characters were omitted", () => {
    const text = Array.from({ length: 1000 }, (_, i) => String(i % 10)).join("");
    const { output, truncated } = capOutput(text, 100);
    expect(truncated).toBe(true);
    const note = "\n... [900 characters omitted; call get_command with output_offset to read them] ...\n";
    expect(output).toBe(text.slice(0, 25) + note + text.slice(925));
    expect(output.length).toBe(100 + note.length);
  });

  it("keeps the exact head and tail for max not divisible by 4", () => {
    const text = "abcdefghijklmnopqrstuvwxyz";
    const { output } = capOutput(text, 7);
    expect(output.startsWith("a\n")).toBe(true);
    expect(output.endsWith("\nuvwxyz")).toBe(true);
    expect(output).toContain("[19 characters omitted;");
  });

  it("never splits a surrogate pair at the head or tail cut", () => {
    const text = "😀".repeat(50);
    expect(hasLoneSurrogate(capOutput(text, 8).output)).toBe(false); // head 2, tail 6: on pair edges
    // max 12: head 3 and tail 9 UTF-16 units, both cuts fall inside an emoji.
    const { output, truncated } = capOutput(text, 12);
    expect(truncated).toBe(true);
    expect(hasLoneSurrogate(output)).toBe(false);
    expect(output).toMatch(/^(😀)+\n\.\.\. \[(\d+) characters omitted;[^\n]*\n(😀)+$/);
    const omitted = Number(/\[(\d+) characters omitted/.exec(output)?.[1]);
    const kept = output.split("\n");
    // The omitted count is the exact number of UTF-16 units left out.
    expect((kept[0] ?? "").length + omitted + (kept.at(-1) ?? "").length).toBe(text.length);
  });

  it("keeps pairs whole for every max over mixed text", () => {
    const text = "a😀b中🎉".repeat(30);
    for (let max = 1; max < text.length; max++) {
      const { output, truncated } = capOutput(text, max);
      expect(truncated).toBe(true);
      expect(hasLoneSurrogate(output), `max ${max}`).toBe(false);
    }
  });
});

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [
  "a",
  "Z",
  "0",
  " ",
  "~",
  '"',
  "\\",
  "/",
  "\n",
  "\r",
  "\t",
  "\b",
  "\f",
  "\u0000",
  "\u0001",
  "\u001b",
  "\u001f",
  "\u007f",
  "\u0080",
  "é",
  "ß",
  "\u07ff",
  "中",
  "文",
  "✓",
  "\u2028",
  "\uffff",
  "😀",
  "🎉",
  "👍🏽",
  "\u{10ffff}",
];

function randomText(next: () => number, maxLen: number): string {
  let s = "";
  const n = Math.floor(next() * maxLen);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

/** The MCP tool reply carrying `t`: once in structuredContent, once as JSON text in content. */
function replyBytes(t: string): number {
  const payload = { output: t };
  return Buffer.byteLength(
    JSON.stringify({
      structuredContent: payload,
      content: [{ type: "text", text: JSON.stringify(payload) }],
    }),
  );
}

/** The code points of `s`. */
function codePoints(s: string): string[] {
  return [...s];
}

describe("replyCost / replySize", () => {
  it("is an upper bound of what the text adds to a real reply, for random mixed text", () => {
    const next = rng(42);
    const base = replyBytes("");
    expect(base).toBeLessThan(200);
    for (let k = 0; k < 2000; k++) {
      const t = randomText(next, 300);
      expect(replyBytes(t), JSON.stringify(t)).toBeLessThanOrEqual(replySize(t) + 200);
      expect(replyBytes(t) - base, JSON.stringify(t)).toBeLessThanOrEqual(replySize(t));
    }
  });

  it("is exactly what each kind of character adds to the reply (no wasted budget)", () => {
    const base = replyBytes("");
    for (const ch of ALPHABET) {
      const units = [...Array(ch.length).keys()].map((i) => ch.charCodeAt(i));
      expect(
        units.reduce((n, c) => n + replyCost(c), 0),
        JSON.stringify(ch),
      ).toBe(replyBytes(ch) - base);
      expect(replySize(ch.repeat(7))).toBe(7 * (replyBytes(ch) - base));
    }
  });

  it("counts both copies: a quote costs 2 + 4, a control character 6 + 7, CJK 3 + 3", () => {
    expect(replySize('"')).toBe(6);
    expect(replySize("\\")).toBe(6);
    expect(replySize("\n")).toBe(5);
    expect(replySize("\u0001")).toBe(13);
    expect(replySize("中")).toBe(6);
    expect(replySize("😀")).toBe(8);
    expect(replySize("ab")).toBe(4);
    expect(replySize("")).toBe(0);
  });

  it("is an upper bound for lone surrogates too (escaped as \\udXXX by JSON.stringify)", () => {
    const base = replyBytes("");
    for (const t of ["\ud800", "\udfff", "x\ud83d", "\ude00y", "\ud800".repeat(100)]) {
      expect(replyBytes(t) - base, JSON.stringify(t)).toBeLessThanOrEqual(replySize(t));
    }
  });
});

describe("pageOutput", () => {
  const sample =
    'plain ASCII "quoted" \\ back\tslash\n' +
    "中文字符与emoji 😀🎉👍🏽 mixed \u0001\u001f control\r\n" +
    "é ü ß — ✓ ".repeat(7);
  const text = sample.repeat(40);

  function pages(t: string, budget: number): string[] {
    const out: string[] = [];
    let offset: number | null = 0;
    let guard = 0;
    while (offset !== null) {
      const p = pageOutput(t, offset, budget);
      out.push(p.output);
      if (p.nextOffset !== null) {
        expect(p.nextOffset).toBeGreaterThan(offset);
        expect(p.nextOffset).toBe(offset + p.output.length);
      }
      offset = p.nextOffset;
      if (++guard > 100_000) throw new Error("pageOutput did not advance");
    }
    return out;
  }

  it.each([1, 5, 6, 8, 13, 64, 1000, 4096])(
    "pages concatenate back to the original (budget %i)",
    (budget) => {
      const ps = pages(text, budget);
      expect(ps.join("")).toBe(text);
      expect(ps.length).toBeGreaterThan(1);
      ps.forEach((p, i) => {
        expect(p.length).toBeGreaterThan(0);
        expect(hasLoneSurrogate(p)).toBe(false);
        // Within the budget, unless one character alone costs more.
        if (codePoints(p).length > 1) expect(replySize(p)).toBeLessThanOrEqual(budget);
        // Full: the next character would not have fitted.
        const following = codePoints(ps[i + 1] ?? "")[0];
        if (following !== undefined) expect(replySize(p + following)).toBeGreaterThan(budget);
      });
    },
  );

  it("pages random mixed text for random budgets", () => {
    const next = rng(7);
    for (let k = 0; k < 200; k++) {
      const t = randomText(next, 400);
      const budget = 1 + Math.floor(next() * 200);
      const ps = pages(t, budget);
      expect(ps.join("")).toBe(t);
      for (const p of ps) {
        expect(hasLoneSurrogate(p)).toBe(false);
        if (codePoints(p).length > 1) expect(replySize(p)).toBeLessThanOrEqual(budget);
      }
    }
  });

  it("fills pages to the budget", () => {
    const ps = pages("x".repeat(10_000), 2000);
    expect(ps.length).toBe(10);
    expect(ps.every((p) => p.length === 1000)).toBe(true);
  });

  it("returns the whole text with nextOffset null when it fits", () => {
    expect(pageOutput("中文 😀", 0, 1000)).toEqual({ output: "中文 😀", nextOffset: null });
    expect(pageOutput("中文 😀", 0, replySize("中文 😀"))).toEqual({ output: "中文 😀", nextOffset: null });
    expect(pageOutput("", 0, 10)).toEqual({ output: "", nextOffset: null });
  });

  it("returns nextOffset null on the last page and an empty page past the end", () => {
    const t = "abcdefghij";
    expect(pageOutput(t, 0, 8)).toEqual({ output: "abcd", nextOffset: 4 });
    expect(pageOutput(t, 4, 8)).toEqual({ output: "efgh", nextOffset: 8 });
    expect(pageOutput(t, 8, 8)).toEqual({ output: "ij", nextOffset: null });
    expect(pageOutput(t, 50, 8)).toEqual({ output: "", nextOffset: null });
    expect(pageOutput(t, -3, 4)).toEqual({ output: "ab", nextOffset: 2 });
  });

  it("still advances by one character when the budget is smaller than its cost", () => {
    expect(pageOutput("abc", 0, 1)).toEqual({ output: "a", nextOffset: 1 });
    expect(pageOutput("abc", 0, 0)).toEqual({ output: "a", nextOffset: 1 });
    expect(pageOutput('"x', 0, 5)).toEqual({ output: '"', nextOffset: 1 });
    expect(pageOutput("\u0001\u0001", 0, 12)).toEqual({ output: "\u0001", nextOffset: 1 });
    // An emoji is never split, even when half of it is already over the budget.
    expect(pageOutput("😀x", 0, 1)).toEqual({ output: "😀", nextOffset: 2 });
    expect(pageOutput("a😀", 1, 3)).toEqual({ output: "😀", nextOffset: null });
  });

  it("moves a page end that would split a surrogate pair back before the pair", () => {
    const t = "ab😀cd";
    // budget 8: "ab" (4) + high surrogate (4) fits, the low surrogate does not.
    expect(pageOutput(t, 0, 8)).toEqual({ output: "ab", nextOffset: 2 });
    expect(pageOutput(t, 2, 8)).toEqual({ output: "😀", nextOffset: 4 });
    expect(pageOutput(t, 2, 10)).toEqual({ output: "😀c", nextOffset: 5 });
  });

  it("counts escaped characters at their reply cost", () => {
    expect(pageOutput('""""', 0, 12)).toEqual({ output: '""', nextOffset: 2 });
    expect(pageOutput('""""', 0, 11)).toEqual({ output: '"', nextOffset: 1 });
    expect(pageOutput("\n\n\n", 0, 10)).toEqual({ output: "\n\n", nextOffset: 2 });
    expect(pageOutput("中中中", 0, 17)).toEqual({ output: "中中", nextOffset: 2 });
  });
});

describe("tailWithin", () => {
  it("returns the whole text, not truncated, when it fits", () => {
    expect(tailWithin("", 0)).toEqual({ text: "", truncated: false });
    expect(tailWithin("abc", 6)).toEqual({ text: "abc", truncated: false });
    expect(tailWithin("中文 😀", 100)).toEqual({ text: "中文 😀", truncated: false });
  });

  it("keeps the longest tail that fits", () => {
    expect(tailWithin("abcdef", 6)).toEqual({ text: "def", truncated: true });
    expect(tailWithin("abcdef", 7)).toEqual({ text: "def", truncated: true });
    expect(tailWithin('ab"c', 8)).toEqual({ text: '"c', truncated: true });
    expect(tailWithin("abc", 1)).toEqual({ text: "", truncated: true });
  });

  it("never starts with half a surrogate pair", () => {
    expect(tailWithin("ab😀", 8)).toEqual({ text: "😀", truncated: true });
    expect(tailWithin("ab😀", 5)).toEqual({ text: "", truncated: true });
    expect(tailWithin("😀😀x", 10)).toEqual({ text: "😀x", truncated: true });
  });

  it("is a suffix within the budget, as long as possible, for random text and budgets", () => {
    const next = rng(99);
    for (let k = 0; k < 500; k++) {
      const t = randomText(next, 200);
      const budget = Math.floor(next() * 300);
      const r = tailWithin(t, budget);
      expect(t.endsWith(r.text)).toBe(true);
      expect(r.truncated).toBe(r.text.length < t.length);
      expect(replySize(r.text)).toBeLessThanOrEqual(budget);
      expect(hasLoneSurrogate(r.text)).toBe(false);
      const before = codePoints(t.slice(0, t.length - r.text.length)).at(-1);
      if (before !== undefined) expect(replySize(before + r.text)).toBeGreaterThan(budget);
    }
  });
});

describe("OutputDigest", () => {
  it("caps as capOutput of the whole would, holding the whole only while it is short", () => {
    const piece = fc.string({ unit: fc.constantFrom("a", "\n", "中", "😀", "\ud83d"), maxLength: 300 });
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 40 }),
        fc.integer({ min: 4, max: 400 }),
        fc.integer({ min: 0, max: 400 }),
        piece,
        (pieces, hold, m, rest) => {
          const d = new OutputDigest(hold);
          for (const p of pieces) d.push(p);
          const whole = pieces.join("");
          const max = Math.max(4, Math.min(m, hold));
          expect(d.length).toBe(whole.length);
          expect(d.whole()).toBe(whole.length <= 2 * hold ? whole : undefined);
          expect(d.cap(max)).toEqual(capOutput(whole, max));
          expect(d.cap(max, rest)).toEqual(capOutput(whole + rest, max));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
