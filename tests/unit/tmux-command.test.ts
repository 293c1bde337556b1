import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  captureCommand,
  chain,
  chunkText,
  commandString,
  displayCommand,
  escapeArg,
  fitsOneMessage,
  formatAnd,
  formatEq,
  formatVar,
  literalCommands,
  pipePaneCommand,
  setOptionCommand,
  shQuote,
} from "../../src/tmux/command.js";

/** tmux's command syntax, without tmux (tmux-client.test.ts sends commandString through tmux itself). */

function printfViaSh(word: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("sh", ["-c", `printf %s ${shQuote(word)}`], { encoding: "utf8" }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

describe("escapeArg / chain", () => {
  it("escapes a trailing ';' so tmux does not read it as a command separator", () => {
    expect(escapeArg("echo hi;")).toBe("echo hi\\;");
    expect(escapeArg(";")).toBe("\\;");
    expect(escapeArg("a;b")).toBe("a;b");
    expect(escapeArg("plain")).toBe("plain");
    expect(escapeArg("")).toBe("");
  });

  it("joins commands with ';' separators and escapes every argument", () => {
    expect(chain(["send-keys", "-t", "%1", "-l", "--", "ls;"], ["send-keys", "-t", "%1", "Enter"])).toEqual([
      "send-keys",
      "-t",
      "%1",
      "-l",
      "--",
      "ls\\;",
      ";",
      "send-keys",
      "-t",
      "%1",
      "Enter",
    ]);
    expect(chain(["a"])).toEqual(["a"]);
    expect(chain()).toEqual([]);
  });
});

describe("chunkText", () => {
  const inputs = [
    "",
    "a",
    "plain ascii ".repeat(50),
    "中文字符".repeat(40),
    "😀🎉👍🏽".repeat(30),
    ("mixed é 中 😀 text;" + "x".repeat(13)).repeat(25),
  ];

  it.each([4, 5, 6, 7, 16, 100, 8000])(
    "every chunk fits maxBytes=%i in UTF-8, they concatenate to the input, pairs stay whole",
    (maxBytes) => {
      for (const text of inputs) {
        const chunks = chunkText(text, maxBytes);
        expect(chunks.join("")).toBe(text);
        for (const c of chunks) {
          expect(c.length).toBeGreaterThan(0);
          expect(Buffer.byteLength(c, "utf8")).toBeLessThanOrEqual(maxBytes);
          expect(isLow(c.charCodeAt(0))).toBe(false);
          expect(isHigh(c.charCodeAt(c.length - 1))).toBe(false);
        }
      }
    },
  );

  it("fills chunks to the limit", () => {
    expect(chunkText("abcdefghij", 4)).toEqual(["abcd", "efgh", "ij"]);
    expect(chunkText("中文字", 6)).toEqual(["中文", "字"]); // 3 bytes each
    expect(chunkText("a😀b", 5)).toEqual(["a😀", "b"]);
    expect(chunkText("a😀b", 4)).toEqual(["a", "😀", "b"]);
  });

  it("returns one chunk for short text and none for empty text", () => {
    expect(chunkText("hello")).toEqual(["hello"]);
    expect(chunkText("")).toEqual([]);
  });

  it("splits large text under the default 8000 bytes", () => {
    const chunks = chunkText("中".repeat(10_000));
    expect(chunks.length).toBe(4); // 30000 bytes / 7998 per chunk
    expect(chunks.every((c) => Buffer.byteLength(c) <= 8000)).toBe(true);
  });
});

describe("literalCommands", () => {
  it("types text literally after the named keys, a NUL as the key C-@", () => {
    expect(literalCommands("%2", "a\0b\n", ["C-u"])).toEqual([
      ["send-keys", "-t", "%2", "C-u"],
      ["send-keys", "-t", "%2", "-l", "--", "a"],
      ["send-keys", "-t", "%2", "C-@"],
      ["send-keys", "-t", "%2", "-l", "--", "b\n"],
    ]);
    expect(literalCommands("%2", "")).toEqual([]);
  });

  it("splits long text into one command per chunk", () => {
    const cmds = literalCommands("%2", "x".repeat(20_000));
    expect(cmds.map((c) => c[5]?.length)).toEqual([8000, 8000, 4000]);
  });
});

describe("shQuote", () => {
  it.each([
    "simple",
    "",
    "with space",
    "it's",
    "''",
    `'"'"'`,
    "$HOME `id` $(id) \\ \\n",
    "a\nb\tc",
    "semi; colon & amp | pipe > redir < in *glob* ?q [x] ~ # ! %",
    "中文 😀",
    "-n",
  ])("round-trips %j through sh -c printf", async (word) => {
    expect(await printfViaSh(word)).toBe(word);
  });

  it("wraps in single quotes and closes/reopens around embedded quotes", () => {
    expect(shQuote("a'b")).toBe(`'a'\\''b'`);
  });
});

describe("commandString", () => {
  it("double-quotes every argument and escapes all but a small safe set as octal", () => {
    expect(commandString([["send-keys", "-t", "%3", "-l", "--", "a b"]])).toBe(
      '"send-keys" "-t" "%3" "-l" "--" "a\\040b"',
    );
    // Nothing tmux's parser would act on survives: $ ~ ; # { } quotes, backslash, newline, control chars.
    const line = commandString([[`$HOME ~ ; # {x} 'q' "d" \\ \t\n\u0001`]]);
    expect(line.slice(1, -1)).toMatch(/^[A-Za-z0-9_.,:=+@%/\\-]*$/);
    expect(line).not.toMatch(/[$~;#{}'\s]/);
    expect(commandString([["é"]])).toBe('"\\303\\251"');
  });

  it("separates commands with ' ; '", () => {
    expect(commandString([["a"], ["b", "c"]])).toBe('"a" ; "b" "c"');
  });

  it("fitsOneMessage: small commands fit, about 12 kB of quoted text does not", () => {
    expect(fitsOneMessage(literalCommands("%1", "ls -la\n"))).toBe(true);
    expect(fitsOneMessage(literalCommands("%1", "a".repeat(11_000)))).toBe(true);
    expect(fitsOneMessage(literalCommands("%1", "é".repeat(3_000)))).toBe(false);
  });
});

describe("formats", () => {
  it("builds variables, comparisons and right-nested conjunctions", () => {
    expect(formatVar("pane_id")).toBe("#{pane_id}");
    expect(formatVar("@opt")).toBe("#{@opt}");
    expect(formatEq("#{pane_dead}", "0")).toBe("#{==:#{pane_dead},0}");
    expect(formatEq("#{@lock}", "")).toBe("#{==:#{@lock},}");
    expect(formatAnd("A")).toBe("A");
    expect(formatAnd("A", "B")).toBe("#{&&:A,B}");
    expect(formatAnd("A", "B", "C", "D")).toBe("#{&&:A,#{&&:B,#{&&:C,D}}}");
  });
});

describe("per-pane commands", () => {
  it("set-option in each scope, and its unset form", () => {
    expect(setOptionCommand("%1", "@o", "v", "window")).toEqual(["set-option", "-w", "-t", "%1", "@o", "v"]);
    expect(setOptionCommand("%1", "@o", undefined, "window")).toEqual([
      "set-option",
      "-w",
      "-u",
      "-t",
      "%1",
      "@o",
    ]);
    expect(setOptionCommand("%1", "@o", "v")).toEqual(["set-option", "-p", "-t", "%1", "@o", "v"]);
    expect(setOptionCommand("s:", "@o", "", "session")).toEqual(["set-option", "-t", "s:", "@o", ""]);
  });

  it("capture-pane: joined rows by default, history start and colours on request", () => {
    expect(captureCommand("%1")).toEqual(["capture-pane", "-p", "-J", "-t", "%1"]);
    expect(captureCommand("%1", { join: false })).toEqual(["capture-pane", "-p", "-t", "%1"]);
    expect(captureCommand("%1", { start: -200, ansi: true })).toEqual([
      "capture-pane",
      "-p",
      "-J",
      "-t",
      "%1",
      "-S",
      "-200",
      "-e",
    ]);
  });

  it("pipe-pane: output only to a command, or stop the pipe", () => {
    expect(pipePaneCommand("%1", "exec cat", { outputOnly: true })).toEqual([
      "pipe-pane",
      "-O",
      "-t",
      "%1",
      "exec cat",
    ]);
    expect(pipePaneCommand("%1")).toEqual(["pipe-pane", "-t", "%1"]);
  });

  it("display-message to stdout", () => {
    expect(displayCommand("%1", "#{pane_id}")).toEqual(["display-message", "-p", "-t", "%1", "#{pane_id}"]);
  });
});
