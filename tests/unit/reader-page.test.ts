import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SshMcpError } from "../../src/errors.js";
import { readEventsPage } from "../../src/transcript/reader.js";

/** readEventsPage: pages of a transcript by byte offset (the transcript resource). */

let dir: string;
let path: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-page-"));
  path = join(dir, "t.jsonl");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const line = (n: number): string => JSON.stringify({ dir: "recv", n, text: "é".repeat(n) }) + "\n";

/** Every page from 0 by next_offset, until end. */
function walk(limit: number, maxBytes: number): { pages: number; ns: number[]; last: number } {
  let offset = 0;
  const ns: number[] = [];
  for (let pages = 1; ; pages++) {
    const p = readEventsPage(path, offset, limit, maxBytes);
    ns.push(...p.events.map((e) => e.n as number));
    expect(p.next_offset).toBeGreaterThanOrEqual(offset);
    if (p.end) return { pages, ns, last: p.next_offset };
    expect(p.next_offset).toBeGreaterThan(offset);
    offset = p.next_offset;
  }
}

describe("readEventsPage", () => {
  it("walks a file in pages with every event once, by count and by bytes", () => {
    const lines = Array.from({ length: 50 }, (_, i) => line(i));
    writeFileSync(path, lines.join(""));
    const size = Buffer.byteLength(lines.join(""));
    const all = Array.from({ length: 50 }, (_, i) => i);
    expect(walk(7, 1_000_000)).toEqual({ pages: 8, ns: all, last: size });
    // Byte-limited pages: never more than the budget, except a single line longer than it.
    const byBytes = walk(5000, 300);
    expect(byBytes.ns).toEqual(all);
    expect(byBytes.pages).toBeGreaterThan(10);
    const longest = Buffer.byteLength(line(49));
    expect(longest).toBeGreaterThan(100);
    const p = readEventsPage(path, size - longest, 10, 50);
    expect(p.events.map((e) => e.n)).toEqual([49]);
    expect(p.end).toBe(true);
  });

  it("leaves a line still being written for later, and counts torn lines", () => {
    writeFileSync(path, line(1) + "{not json\n" + line(2) + '{"dir":"recv","n":3');
    const p = readEventsPage(path, 0, 100, 1_000_000);
    expect(p.events.map((e) => e.n)).toEqual([1, 2]);
    expect(p.skipped_lines).toBe(1);
    expect(p.end).toBe(true);
    expect(p.next_offset).toBe(Buffer.byteLength(line(1) + "{not json\n" + line(2)));
    // A page that stops at its limit before the partial line is not the end.
    expect(readEventsPage(path, 0, 1, 1_000_000).end).toBe(false);
  });

  it("refuses an offset inside a line or past the end, and reads a missing file as empty", () => {
    writeFileSync(path, line(1) + line(2));
    for (const offset of [1, 10_000]) {
      expect(() => readEventsPage(path, offset, 10, 1_000_000)).toThrow(SshMcpError);
    }
    expect(() => readEventsPage(path, 1, 10, 1_000_000)).toThrow(/not the start of a transcript line/);
    expect(readEventsPage(join(dir, "none"), 0, 10, 100)).toEqual({
      events: [],
      next_offset: 0,
      end: true,
      skipped_lines: 0,
    });
  });
});
