import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyRetention } from "../../src/transcript/retention.js";

let dir: string;
const DAY = 86_400_000;
const NOW = Date.parse("2026-11-25T12:00:00Z");

function transcript(inst: string, name: string, ageDays: number): string {
  const d = join(dir, "instances", inst, "transcripts");
  mkdirSync(d, { recursive: true });
  const p = join(d, `${name}.jsonl`);
  writeFileSync(p, "{}\n");
  const t = (NOW - ageDays * DAY) / 1000;
  utimesSync(p, t, t);
  return p;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-retention-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("transcript retention", () => {
  it("is off by default: nothing is deleted", () => {
    const p = transcript("a", "old", 400);
    expect(applyRetention(dir, { days: 0, maxFiles: 0 }, new Set(), NOW)).toEqual([]);
    expect(existsSync(p)).toBe(true);
  });

  it("deletes transcripts older than the limit, per instance, but never a live session's", () => {
    const old = transcript("a", "old", 40);
    const fresh = transcript("a", "fresh", 1);
    const liveOld = transcript("b", "live", 90);
    const deleted = applyRetention(dir, { days: 30, maxFiles: 0 }, new Set([liveOld]), NOW);
    expect(deleted).toEqual([old]);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(liveOld)).toBe(true);
  });

  it("keeps the newest maxFiles of each instance directory", () => {
    const a = [1, 2, 3, 4].map((d) => transcript("a", `s${d}`, d));
    const b = [transcript("b", "only", 10)];
    const deleted = applyRetention(dir, { days: 0, maxFiles: 2 }, new Set(), NOW);
    expect(deleted.sort()).toEqual([a[2], a[3]].sort());
    expect(existsSync(a[0] as string) && existsSync(a[1] as string) && existsSync(b[0] as string)).toBe(true);
  });
});
