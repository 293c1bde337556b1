import { describe, expect, it } from "vitest";
import { OutputStream } from "../../src/session/stream.js";

function filled(chunks: string[]): OutputStream {
  const s = new OutputStream();
  chunks.forEach((c, i) => s.append(c, 1000 + i));
  return s;
}

describe("OutputStream", () => {
  it("tracks the end offset, kept size and last receive time", () => {
    const s = new OutputStream();
    expect(s.end).toBe(0);
    expect(s.slice(0)).toBe("");
    s.append("hello", 10);
    s.append("", 99); // empty chunks are ignored, also for lastRecvAt
    s.append(" world", 20);
    expect(s.end).toBe(11);
    expect(s.kept).toBe(11);
    expect(s.lastRecvAt).toBe(20);
  });

  it("slices by absolute offsets across chunk boundaries", () => {
    const parts = ["abc", "defg", "h", "ijklmn", "中文😀"];
    const whole = parts.join("");
    const s = filled(parts);
    for (let from = 0; from <= whole.length; from++) {
      for (let to = from; to <= whole.length + 2; to++) {
        expect(s.slice(from, to), `${from}..${to}`).toBe(whole.slice(from, to));
      }
    }
    expect(s.slice(3)).toBe(whole.slice(3));
    expect(s.slice(5, 2)).toBe("");
  });

  it("trim drops whole chunks before end - keep and keeps offsets absolute", () => {
    const parts = ["0123456789", "abcdefghij", "ABCDEFGHIJ", "klmnopqrst"];
    const s = filled(parts);
    s.trim(15); // cut at 25, inside chunk 2: chunks 0 and 1 go
    expect(s.kept).toBe(20);
    expect(s.end).toBe(40);
    expect(s.slice(20, 25)).toBe("ABCDE");
    expect(s.slice(0, 25)).toBe("ABCDE"); // clamped to what is kept
    expect(s.slice(0)).toBe("ABCDEFGHIJklmnopqrst");
    s.append("XYZ");
    expect(s.end).toBe(43);
    expect(s.slice(38)).toBe("stXYZ");
  });

  it("trim keeps the chunk holding the cut and is a no-op when everything is needed", () => {
    const s = filled(["aaaa", "bbbb"]);
    s.trim(100);
    expect(s.kept).toBe(8);
    s.trim(1); // cut at 7, inside the last chunk: the first goes
    expect(s.slice(0)).toBe("bbbb");
    s.trim(0);
    expect(s.slice(0)).toBe("bbbb"); // the last chunk always stays
  });

  it("a pin keeps text from its offset until released", () => {
    const s = filled(["aaaa", "bbbb", "cccc", "dddd"]);
    const release = s.pin(5);
    s.trim(0);
    expect(s.slice(5)).toBe("bbbccccdddd");
    expect(s.kept).toBe(12);
    release();
    s.trim(0);
    expect(s.slice(0)).toBe("dddd");
    expect(s.kept).toBe(4);
  });

  it("the oldest of several pins wins, and releasing is per pin", () => {
    const s = filled(["0000", "1111", "2222", "3333", "4444"]);
    const r1 = s.pin(9);
    const r2 = s.pin(2);
    s.trim(0);
    expect(s.slice(0)).toBe("00001111222233334444");
    r2();
    r2(); // releasing twice is harmless
    s.trim(0);
    expect(s.slice(0)).toBe("222233334444");
    r1();
    s.trim(0);
    expect(s.slice(0)).toBe("4444");
  });

  it("stays consistent over many appends and trims", () => {
    const s = new OutputStream();
    let whole = "";
    for (let i = 0; i < 500; i++) {
      const chunk = `<${i}:${"x".repeat(i % 7)}>`;
      s.append(chunk);
      whole += chunk;
      if (i % 50 === 49) s.trim(100);
      const from = Math.max(0, s.end - 40);
      expect(s.slice(from)).toBe(whole.slice(from));
    }
    expect(s.end).toBe(whole.length);
    expect(s.kept).toBeLessThan(whole.length);
    expect(s.slice(s.end - s.kept)).toBe(whole.slice(whole.length - s.kept));
  });
});

describe("OutputStream with many chunks", () => {
  /** Chunks of varying length (0..12) so chunk edges fall everywhere. */
  function build(n: number): { s: OutputStream; whole: string } {
    const s = new OutputStream();
    let whole = "";
    for (let i = 0; i < n; i++) {
      const chunk = String.fromCharCode(97 + (i % 26)).repeat(i % 13) + (i % 5 === 0 ? "中😀" : "");
      s.append(chunk, i);
      whole += chunk;
    }
    return { s, whole };
  }

  it("slices any range across thousands of chunks exactly", () => {
    const { s, whole } = build(3000);
    expect(s.end).toBe(whole.length);
    expect(s.kept).toBe(whole.length);
    let seed = 1;
    const next = (max: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % max;
    };
    for (let k = 0; k < 2000; k++) {
      const from = next(whole.length + 1);
      const to = from + next(200);
      expect(s.slice(from, to), `${from}..${to}`).toBe(whole.slice(from, to));
    }
    expect(s.slice(0)).toBe(whole);
  });

  it("trim drops only whole chunks: the chunk holding the cut stays entirely", () => {
    const s = new OutputStream();
    for (const c of ["aaaaa", "bbbbb", "ccccc", "ddddd", "eeeee"]) s.append(c);
    s.trim(12); // cut at 13, inside "ccccc" (10..15)
    expect(s.kept).toBe(15);
    expect(s.slice(0)).toBe("cccccdddddeeeee");
    expect(s.slice(10, 11)).toBe("c");
    expect(s.slice(9, 11)).toBe("c"); // 9 is gone
    s.trim(10); // cut at 15, exactly the first character of "ddddd"
    expect(s.kept).toBe(10);
    expect(s.slice(0)).toBe("dddddeeeee");
  });

  it("a pin inside a chunk keeps that whole chunk; trimming is otherwise as if unpinned", () => {
    const s = new OutputStream();
    for (const c of ["0123", "4567", "89ab", "cdef"]) s.append(c);
    const release = s.pin(6);
    s.trim(0);
    expect(s.kept).toBe(12);
    expect(s.slice(0)).toBe("456789abcdef");
    release();
    s.trim(0);
    expect(s.kept).toBe(4);
  });

  it("keeps slicing correctly after trims over many chunks", () => {
    const { s, whole } = build(2000);
    const release = s.pin(whole.length - 500);
    s.trim(0);
    expect(s.kept).toBeGreaterThanOrEqual(500);
    expect(s.kept).toBeLessThan(500 + 20); // only the pinned chunk's head before the pin
    const base = s.end - s.kept;
    for (let from = base; from < s.end; from += 7) {
      expect(s.slice(from, from + 33)).toBe(whole.slice(from, from + 33));
    }
    expect(s.slice(0, base + 3)).toBe(whole.slice(base, base + 3));
    release();
    s.append("tail");
    expect(s.slice(s.end - 10)).toBe((whole + "tail").slice(-10));
  });
});
