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
