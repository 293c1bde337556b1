import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSearchCommand, parseMatches, type SearchOptions } from "../../src/session/search.js";

let dir: string;

function opts(o: Partial<SearchOptions>): SearchOptions {
  return {
    pattern: "x",
    path: ".",
    include: "*.log",
    context: 0,
    ignoreCase: true,
    maxCount: 200,
    timeoutMs: 30_000,
    ...o,
  };
}

/** Runs the command with sh (dash) in the temp dir; grep's "no match" status is not an error here. */
function run(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("sh", ["-c", command], { cwd: dir, encoding: "utf8" }, (err, stdout) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve(stdout);
    });
  });
}

async function search(o: Partial<SearchOptions>) {
  const o2 = opts(o);
  return parseMatches(await run(buildSearchCommand(o2)), o2.maxCount);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-search-"));
  writeFileSync(
    join(dir, "app.log"),
    [
      "2024-05-01 12:00:00 INFO start",
      "2024-05-01 12:00:01 WARN it's a trap here",
      "2024-05-01 12:00:02 ERROR disk full",
      "2024-05-01 12:00:03 INFO stop",
    ].join("\n") + "\n",
  );
  writeFileSync(join(dir, "with space.log"), "first\nIT'S A TRAP loud\nlast\n");
  writeFileSync(join(dir, "notes.txt"), "it's a trap in a txt file\n");
  mkdirSync(join(dir, "sub", "deep"), { recursive: true });
  writeFileSync(join(dir, "sub", "deep", "x.log"), "nothing\nerror: it's a trap deep\n");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("buildSearchCommand", () => {
  it("builds a find | xargs grep pipeline with the portable options", () => {
    const cmd = buildSearchCommand(opts({ pattern: "err", context: 2, maxCount: 5 }));
    expect(cmd).toBe(
      "find '.' -type f -name '*.log' -print0 2>/dev/null | xargs -0 grep -n -H -s -E -i -C 2 -m 5 -e 'err' --",
    );
    expect(buildSearchCommand(opts({ ignoreCase: false }))).not.toContain(" -i ");
  });

  it("finds a pattern with single quotes and spaces, across files and names with spaces", async () => {
    const matches = await search({ pattern: "it's a trap" });
    const sorted = [...matches].sort((a, b) => a.file.localeCompare(b.file));
    expect(sorted).toEqual([
      { file: "./app.log", line: 2, text: "2024-05-01 12:00:01 WARN it's a trap here" },
      { file: "./sub/deep/x.log", line: 2, text: "error: it's a trap deep" },
      { file: "./with space.log", line: 2, text: "IT'S A TRAP loud" },
    ]);
  });

  it("is case-sensitive when asked and honours include", async () => {
    const cs = await search({ pattern: "it's a trap", ignoreCase: false });
    expect(cs.map((m) => m.file).sort()).toEqual(["./app.log", "./sub/deep/x.log"]);
    const txt = await search({ pattern: "it's a trap", include: "*.txt" });
    expect(txt).toEqual([{ file: "./notes.txt", line: 1, text: "it's a trap in a txt file" }]);
  });

  it("passes extended regexes through unchanged", async () => {
    const m = await search({ pattern: "(ERROR|WARN) (disk|it's)", path: "app.log" });
    expect(m.map((x) => x.line)).toEqual([2, 3]);
  });

  it("quotes a path with spaces", async () => {
    const m = await search({ pattern: "loud", path: join(dir, "with space.log") });
    expect(m).toEqual([{ file: join(dir, "with space.log"), line: 2, text: "IT'S A TRAP loud" }]);
  });

  it("never lets the pattern, path or include run shell code", async () => {
    const hostile = [
      "'; touch pwned1; '",
      "$(touch pwned2)",
      "`touch pwned3`",
      '"; touch pwned4; "',
      "x' -o -exec touch pwned5 ';' '",
    ];
    for (const h of hostile) {
      await run(buildSearchCommand(opts({ pattern: h })));
      await run(buildSearchCommand(opts({ path: h })));
      await run(buildSearchCommand(opts({ include: h })));
    }
    for (let i = 1; i <= 5; i++) expect(existsSync(join(dir, `pwned${i}`)), `pwned${i}`).toBe(false);
  });

  it("limits matches per file with maxCount", async () => {
    const m = await search({ pattern: "2024", path: "app.log", maxCount: 2 });
    expect(m.map((x) => x.line)).toEqual([1, 2]);
  });
});

describe("parseMatches", () => {
  it("parses file:line:text, keeping colons in the text", () => {
    expect(parseMatches("./a.log:12:time 10:20:30 x\n./b c.log:3:\n", 10)).toEqual([
      { file: "./a.log", line: 12, text: "time 10:20:30 x" },
      { file: "./b c.log", line: 3, text: "" },
    ]);
  });

  it("skips context separators and lines that are not matches", () => {
    expect(parseMatches("--\nrandom text\n./a.log:2:hit\n$ \n", 10)).toEqual([
      { file: "./a.log", line: 2, text: "hit" },
    ]);
  });

  it("stops at max", () => {
    const out = Array.from({ length: 10 }, (_, i) => `f.log:${i + 1}:x`).join("\n");
    expect(parseMatches(out, 3).map((m) => m.line)).toEqual([1, 2, 3]);
  });

  it("ignores plain context lines (file-line-text)", () => {
    expect(parseMatches("./a.log-1-before\n./a.log:2:hit\n./a.log-3-after\n", 10)).toHaveLength(1);
  });

  // With context > 0 grep prints context lines as "file-LINE-text". parseMatches' lazy
  // /^(.*?):(\d+):(.*)$/ also accepts such a line when its text holds ":<digits>:", which every
  // timestamped log line does ("12:00:00"), and reports a bogus match with a file name that does
  // not exist: here {file: "app.log-2-2024-05-01 12", line: 0, text: "01 WARN it's a trap here"} and
  // {file: "app.log-4-2024-05-01 12", line: 0, ...} around the one real match.
  it.fails("does not report grep context lines of timestamped logs as matches", async () => {
    const m = await search({ pattern: "disk full", path: "app.log", context: 1 });
    expect(m).toEqual([{ file: "app.log", line: 3, text: "2024-05-01 12:00:02 ERROR disk full" }]);
  });
});
