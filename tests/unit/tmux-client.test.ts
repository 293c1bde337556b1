import { execFile, execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { killTmuxServer, tmuxEnv, uniqueSocket } from "../fixtures/tmux.js";
import { CONTROL_SESSION, TmuxControl } from "../../src/tmux/control.js";
import { pollUntil } from "../fixtures/poll.js";
import {
  chain,
  chunkText,
  commandString,
  escapeArg,
  PANE_FORMAT,
  parsePaneLine,
  SEP,
  shQuote,
  Tmux,
} from "../../src/tmux/client.js";

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

describe("parsePaneLine", () => {
  const OWN = ["sess-1", "ssh-mcp-inst", "4242", '{"actor":"human"}'];

  it("parses every field of the pane format, ssh-mcp's window options included", () => {
    const line = ["%12", "0", "", "5", "7", "120", "40", "1", "4321", "2", ...OWN, "1"].join(SEP);
    expect(parsePaneLine(line)).toEqual({
      paneId: "%12",
      dead: false,
      deadStatus: null,
      cursorX: 5,
      cursorY: 7,
      width: 120,
      height: 40,
      alternate: true,
      pid: 4321,
      attachedClients: 2,
      sessionId: "sess-1",
      ownerInstance: "ssh-mcp-inst",
      ownerPid: 4242,
      lock: '{"actor":"human"}',
      piped: true,
    });
  });

  it("reads a dead pane's exit status, and empty options of a pane that is not ssh-mcp's", () => {
    const info = parsePaneLine(
      ["%3", "1", "255", "0", "0", "80", "24", "0", "99", "0", "", "", "", "", "0"].join(SEP),
    );
    expect(info?.dead).toBe(true);
    expect(info?.deadStatus).toBe(255);
    expect(info?.alternate).toBe(false);
    expect(info?.sessionId).toBe("");
    expect(info?.ownerPid).toBe(0);
  });

  it("rejects lines that are not pane lines", () => {
    expect(parsePaneLine("")).toBeUndefined();
    expect(parsePaneLine(["%1", "0", ""].join(SEP))).toBeUndefined();
    expect(parsePaneLine(["%1", "0", "", "0", "0", "80", "24", "0", "1", "0"].join(SEP))).toBeUndefined();
    expect(
      parsePaneLine(["12", "0", "", "0", "0", "80", "24", "0", "1", "0", ...OWN].join(SEP)),
    ).toBeUndefined();
  });

  it("keeps extra fields out of the pane info", () => {
    const line = ["%1", "0", "", "0", "0", "80", "24", "0", "1", "0", ...OWN, "extra", "more"].join(SEP);
    expect(parsePaneLine(line)).toMatchObject({ paneId: "%1", lock: '{"actor":"human"}' });
  });

  it("PANE_FORMAT has the 15 fields parsePaneLine reads", () => {
    expect(PANE_FORMAT.split(SEP)).toHaveLength(15);
  });
});

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("commandString (text through tmux's own command parser)", () => {
  const socket = uniqueSocket("cs");
  const tmux = (...args: string[]): string =>
    execFileSync("tmux", ["-u", "-L", socket, "-f", "/dev/null", ...args], {
      env: tmuxEnv(),
      encoding: "utf8",
    });
  afterAll(async () => {
    await killTmuxServer(socket);
  });

  it("reaches a command as exactly the same argument, whatever it holds", () => {
    tmux("new-session", "-d", "-s", "cs", "cat");
    tmux("set-option", "-s", "exit-empty", "off");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "grapheme", maxLength: 60 }),
          fc.string({ unit: "binary", maxLength: 60 }),
          fc.constantFrom("#{pane_id}", "##", "a;", "\\;", "$HOME", "~", '"', "'", "%1", "#[fg=red]", "\\"),
        ),
        (text) => {
          // No NUL (literalCommands sends it as a key) and no lone surrogate (not UTF-8 text).
          fc.pre(!text.includes("\0") && !LONE_SURROGATE.test(text));
          // if-shell parses its command argument as tmux does a config line.
          tmux("if-shell", "-F", "1", commandString([["set-buffer", "-b", "cs", "--", `<${text}>`]]));
          expect(tmux("show-buffer", "-b", "cs")).toBe(`<${text}>`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("travels over the control client: a request's output, its refusals, and the next request", async () => {
    tmux("has-session", "-t", "cs");
    const c = new TmuxControl("tmux", socket, tmuxEnv());
    c.start();
    try {
      expect(
        await c.run([
          ["display-message", "-p", "-t", "cs", "one #{session_name}"],
          ["display-message", "-p", "-t", "cs", "two"],
        ]),
      ).toBe("one cs\ntwo");
      // if-shell's branch answers in a block of its own, still within the request.
      expect(
        await c.run([
          [
            "if-shell",
            "-F",
            "-t",
            "cs",
            "1",
            commandString([["display-message", "-p", "-t", "cs", "branch"]]),
          ],
        ]),
      ).toBe("branch");
      await expect(c.run([["send-keys", "-t", "%999", "x"]])).rejects.toThrow(/can't find pane/);
      // display-message does not fail on a gone target over a control client (Tmux checks the answer).
      expect(await c.run([["display-message", "-p", "-t", "%999", "#{pane_id}"]])).not.toBe("%999");
      expect(await c.run([["display-message", "-p", "-t", "cs", "after"]])).toBe("after");
      expect(tmux("list-sessions", "-F", "#{session_name} #{session_attached}")).toContain(
        `${CONTROL_SESSION} 1`,
      );
    } finally {
      c.close();
    }
    expect(c.alive).toBe(false);
    await expect(c.run([["display-message", "-p", "x"]])).rejects.toThrow(/down/);
  });

  it("never mistakes the control client's own pane for a gone one", async () => {
    const t = new Tmux(socket, { env: tmuxEnv() });
    t.enableControl();
    try {
      const pane = tmux("display-message", "-p", "-t", "cs", "#{pane_id}").trim();
      // The first call goes through a tmux process and starts the control client.
      expect((await t.paneInfo(pane))?.paneId).toBe(pane);
      await pollUntil(() =>
        tmux("list-sessions", "-F", "#{session_name} #{session_attached}").includes(`${CONTROL_SESSION} 1`),
      );
      expect((await t.paneInfo(pane))?.paneId).toBe(pane);
      expect(await t.paneInfo("%999")).toBeUndefined();
      expect(await t.runIf("%999", "1", [["send-keys", "-t", "%999", "x"]])).toBe(false);
      expect(await t.runIf(pane, "0", [["send-keys", "-t", pane, "x"]])).toBe(false);
      expect(await t.runIf(pane, "1", [["set-buffer", "-b", "ran", "yes"]])).toBe(true);
      expect(tmux("show-buffer", "-b", "ran")).toBe("yes");
    } finally {
      t.closeControl();
    }
  });
});
