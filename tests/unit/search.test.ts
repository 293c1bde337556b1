import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSearchCommand, grepStyle, parseMatches, type SearchOptions } from "../../src/session/search.js";

let dir: string;

const H = "@@ssh-mcp-file@@ ";

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
function run(command: string, cwd = dir, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("sh", ["-c", command], { cwd, env, encoding: "utf8" }, (err, stdout) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve(stdout);
    });
  });
}

async function search(o: Partial<SearchOptions>) {
  const o2 = opts(o);
  return parseMatches(await run(buildSearchCommand(o2)), o2.maxCount);
}

const APP_LOG = [
  "2024-05-01 12:00:00 INFO start",
  "2024-05-01 12:00:01 WARN it's a trap here",
  "2024-05-01 12:00:02 ERROR disk full",
  "2024-05-01 12:00:03 INFO stop",
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-search-"));
  writeFileSync(join(dir, "app.log"), APP_LOG.join("\n") + "\n");
  writeFileSync(join(dir, "with space.log"), "first\nIT'S A TRAP loud\nlast\n");
  writeFileSync(join(dir, "notes.txt"), "it's a trap in a txt file\n");
  writeFileSync(join(dir, "odd:12:name.log"), "10:20:30 colon trap\n");
  writeFileSync(join(dir, "odd-3-name.log"), "a\n4-5 dash trap\n");
  const sep = Array.from({ length: 10 }, (_, i) => `l${i + 1}${i === 1 || i === 7 ? " MARK" : ""}`);
  writeFileSync(join(dir, "sep.log"), sep.join("\n") + "\n");
  mkdirSync(join(dir, "sub", "deep"), { recursive: true });
  writeFileSync(join(dir, "sub", "deep", "x.log"), "nothing\nerror: it's a trap deep\n");
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("buildSearchCommand", () => {
  it("runs grep once per file under a header line, with the portable options", () => {
    const cmd = buildSearchCommand(opts({ pattern: "err", context: 2, maxCount: 5 }));
    const script = `for f; do printf '${H}%s\\n' "$f"; grep -n -s -E -i -C 2 -m 5 -e 'err' -- "$f"; done`;
    expect(cmd).toBe(`find '.' -type f -name '*.log' -exec sh -c '${script.replace(/'/g, `'\\''`)}' sh {} +`);
  });

  it("leaves out -i and -C when not asked for", () => {
    const cmd = buildSearchCommand(opts({ ignoreCase: false, context: 0 }));
    expect(cmd).toContain("grep -n -s -E -m 200 -e");
    expect(cmd).not.toContain(" -i ");
    expect(cmd).not.toContain(" -C ");
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

  it("names files whose names hold ':N:' and '-N-' correctly", async () => {
    const matches = await search({ pattern: "(colon|dash) trap" });
    const sorted = [...matches].sort((a, b) => a.file.localeCompare(b.file));
    expect(sorted).toEqual([
      { file: "./odd-3-name.log", line: 2, text: "4-5 dash trap" },
      { file: "./odd:12:name.log", line: 1, text: "10:20:30 colon trap" },
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

  it("takes a pattern that starts with '-' as a pattern", async () => {
    const m = await search({ pattern: "-5 dash" });
    expect(m).toEqual([{ file: "./odd-3-name.log", line: 2, text: "4-5 dash trap" }]);
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
      '$f"; touch pwned6; "',
    ];
    for (const h of hostile) {
      await run(buildSearchCommand(opts({ pattern: h })));
      await run(buildSearchCommand(opts({ path: h })));
      await run(buildSearchCommand(opts({ include: h })));
    }
    for (let i = 1; i <= hostile.length; i++)
      expect(existsSync(join(dir, `pwned${i}`)), `pwned${i}`).toBe(false);
  });

  it("does not take a path that looks like a find option as an option (-delete)", async () => {
    const victim = mkdtempSync(join(tmpdir(), "sshmcp-search-victim-"));
    try {
      writeFileSync(join(victim, "keep.log"), "precious\n");
      writeFileSync(join(victim, "keep.txt"), "precious\n");
      await run(buildSearchCommand(opts({ pattern: "precious", path: "-delete" })), victim);
      expect(readdirSync(victim).sort()).toEqual(["keep.log", "keep.txt"]);
    } finally {
      rmSync(victim, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  it("limits matches per file with maxCount", async () => {
    const m = await search({ pattern: "2024", path: "app.log", maxCount: 2 });
    expect(m.map((x) => x.line)).toEqual([1, 2]);
  });

  it("works with BusyBox sh, find and grep", async () => {
    const bin = join(dir, "..", `${dir.split("/").pop() ?? "x"}-bin`);
    mkdirSync(bin);
    try {
      const busybox = await new Promise<string>((res, rej) =>
        execFile("sh", ["-c", "command -v busybox"], (err, out) => (err ? rej(err) : res(out.trim()))),
      );
      for (const applet of ["sh", "find", "grep", "printf"]) symlinkSync(busybox, join(bin, applet));
      const env = { PATH: bin };
      const o = opts({ pattern: "it's a trap|disk", context: 1 });
      const out = await run(buildSearchCommand(o), dir, env);
      const sorted = parseMatches(out, 100).sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
      expect(sorted).toEqual([
        { file: "./app.log", line: 2, text: "2024-05-01 12:00:01 WARN it's a trap here" },
        { file: "./app.log", line: 3, text: "2024-05-01 12:00:02 ERROR disk full" },
        { file: "./sub/deep/x.log", line: 2, text: "error: it's a trap deep" },
        { file: "./with space.log", line: 2, text: "IT'S A TRAP loud" },
      ]);
      expect(grepStyle(out)).toContain(`./app.log-4-${APP_LOG[3]}`);
    } finally {
      rmSync(bin, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  it("does not report grep context lines of timestamped logs as matches", async () => {
    const m = await search({ pattern: "disk full", path: "app.log", context: 1 });
    expect(m).toEqual([{ file: "app.log", line: 3, text: "2024-05-01 12:00:02 ERROR disk full" }]);
  });

  it("prints context lines that grepStyle lists as file-N-text around the file:N:text match", async () => {
    const out = await run(buildSearchCommand(opts({ pattern: "disk full", path: "app.log", context: 1 })));
    expect(grepStyle(out)).toBe(
      [`app.log-2-${APP_LOG[1]}`, `app.log:3:${APP_LOG[2]}`, `app.log-4-${APP_LOG[3]}`, ""].join("\n"),
    );
  });

  it("lists matches without context in grep's own file:N:text format", async () => {
    const out = await run(buildSearchCommand(opts({ pattern: "INFO", path: "app.log", context: 0 })));
    expect(grepStyle(out)).toBe(`app.log:1:${APP_LOG[0]}\napp.log:4:${APP_LOG[3]}\n`);
  });

  it("keeps grep's -- separator between context groups and reads only the matches", async () => {
    const out = await run(buildSearchCommand(opts({ pattern: "MARK", path: "sep.log", context: 1 })));
    expect(grepStyle(out)).toBe(
      "sep.log-1-l1\nsep.log:2:l2 MARK\nsep.log-3-l3\n--\nsep.log-7-l7\nsep.log:8:l8 MARK\nsep.log-9-l9\n",
    );
    expect(parseMatches(out, 10)).toEqual([
      { file: "sep.log", line: 2, text: "l2 MARK" },
      { file: "sep.log", line: 8, text: "l8 MARK" },
    ]);
  });
});

describe("parseMatches", () => {
  it("reads N:text lines under the last header, keeping colons in the text", () => {
    const out = `${H}./a.log\n12:time 10:20:30 x\n${H}./b c.log\n3:\n`;
    expect(parseMatches(out, 10)).toEqual([
      { file: "./a.log", line: 12, text: "time 10:20:30 x" },
      { file: "./b c.log", line: 3, text: "" },
    ]);
  });

  it("takes the file name from the header verbatim, colons, digits and all", () => {
    expect(parseMatches(`${H}./x:1:y-2-z.log\n5:hit\n`, 10)).toEqual([
      { file: "./x:1:y-2-z.log", line: 5, text: "hit" },
    ]);
  });

  it("skips context lines (N-text), separators and lines that are not grep output", () => {
    const out = `${H}a.log\n1-before 12:00:00\n2:hit 12:00:01\n3-after 12:00:02\n--\n9-x:1:y\n10:second\n$ \n`;
    expect(parseMatches(out, 10)).toEqual([
      { file: "a.log", line: 2, text: "hit 12:00:01" },
      { file: "a.log", line: 10, text: "second" },
    ]);
  });

  it("ignores anything before the first header", () => {
    expect(parseMatches(`7:not a match\nfind: 'x': No such file or directory\n${H}f\n1:yes\n`, 10)).toEqual([
      { file: "f", line: 1, text: "yes" },
    ]);
    expect(parseMatches("1:x\n2:y\n", 10)).toEqual([]);
  });

  it("stops at max, across files", () => {
    const out = [`${H}a`, "1:x", "2:x", `${H}b`, "1:x", "2:x"].join("\n");
    expect(parseMatches(out, 3)).toEqual([
      { file: "a", line: 1, text: "x" },
      { file: "a", line: 2, text: "x" },
      { file: "b", line: 1, text: "x" },
    ]);
    expect(parseMatches(out, 100)).toHaveLength(4);
  });

  it("returns nothing for headers of files without matches", () => {
    expect(parseMatches(`${H}a.log\n${H}b.log\n`, 10)).toEqual([]);
  });
});

describe("grepStyle", () => {
  it("prefixes match and context lines with their file and drops the headers", () => {
    const out = `${H}./a b.log\n1-ctx\n2:hit\n--\n${H}./c.log\n7:other 1:2:3\n`;
    expect(grepStyle(out)).toBe("./a b.log-1-ctx\n./a b.log:2:hit\n--\n./c.log:7:other 1:2:3\n");
  });

  it("passes through lines that are not grep output", () => {
    expect(grepStyle("find: 'x': Permission denied\n$ ")).toBe("find: 'x': Permission denied\n$ ");
    expect(grepStyle("")).toBe("");
  });
});
