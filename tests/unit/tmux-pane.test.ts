import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Tmux, TmuxError } from "../../src/tmux/client.js";
import { SEP } from "../../src/tmux/command.js";
import {
  PANE_FIELDS,
  PANE_FORMAT,
  parsePaneLine,
  parsePaneRow,
  type PaneFields,
} from "../../src/tmux/pane-info.js";

/**
 * A pane's state lines, and the Pane handle and client against a stand-in `tmux` that records
 * its argv (one line per invocation, arguments separated by \x1f) and answers as told.
 */

const dir = mkdtempSync(join(tmpdir(), "tmux-pane-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FAKE = join(dir, "tmux");
writeFileSync(
  FAKE,
  `#!/bin/sh
for a in "$@"; do printf '%s\\037' "$a"; done >> "$FAKE_TMUX_LOG"
printf '\\n' >> "$FAKE_TMUX_LOG"
printf '%s' "$FAKE_TMUX_OUT"
if [ -n "$FAKE_TMUX_EXIT" ]; then printf '%s\\n' "$FAKE_TMUX_ERR" >&2; exit "$FAKE_TMUX_EXIT"; fi
`,
);
chmodSync(FAKE, 0o755);

let n = 0;
function fake<T extends object = object>(
  answer: { out?: string; exit?: number; err?: string } = {},
  opts: { paneFields?: PaneFields<T>; mapError?: (err: TmuxError) => Error } = {},
) {
  const log = join(dir, `log-${++n}`);
  writeFileSync(log, "");
  const tmux = new Tmux<T>("sock", {
    tmuxPath: FAKE,
    env: {
      PATH: process.env.PATH,
      LANG: "C.UTF-8",
      FAKE_TMUX_LOG: log,
      FAKE_TMUX_OUT: answer.out ?? "",
      FAKE_TMUX_EXIT: answer.exit === undefined ? "" : String(answer.exit),
      FAKE_TMUX_ERR: answer.err ?? "",
    },
    ...opts,
  });
  /** The argv of each invocation, without the `-u -L sock -f /dev/null` every one starts with. */
  const calls = (): string[][] =>
    readFileSync(log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const argv = line.split("\x1f").slice(0, -1);
        expect(argv.slice(0, 5)).toEqual(["-u", "-L", "sock", "-f", "/dev/null"]);
        return argv.slice(5);
      });
  return { tmux, calls };
}

const BASE = ["%12", "0", "", "5", "7", "120", "40", "1", "4321", "2", "1"];

describe("parsePaneLine / parsePaneRow", () => {
  it("parses every field of the pane format", () => {
    expect(parsePaneLine(BASE.join(SEP))).toEqual({
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
      piped: true,
    });
    expect(PANE_FORMAT.split(SEP)).toHaveLength(PANE_FIELDS);
  });

  it("reads a dead pane's exit status", () => {
    const info = parsePaneLine(["%3", "1", "255", "0", "0", "80", "24", "0", "99", "0", "0"].join(SEP));
    expect(info).toMatchObject({ dead: true, deadStatus: 255, alternate: false, piped: false });
  });

  it("rejects lines that are not pane lines", () => {
    expect(parsePaneLine("")).toBeUndefined();
    expect(parsePaneLine(["%1", "0", ""].join(SEP))).toBeUndefined();
    expect(parsePaneLine(BASE.slice(0, -1).join(SEP))).toBeUndefined();
    expect(parsePaneLine(["12", ...BASE.slice(1)].join(SEP))).toBeUndefined();
  });

  it("adds the caller's fields, then hands back the extra values", () => {
    const fields: PaneFields<{ tag: string; n: number }> = {
      formats: ["#{@tag}", "#{@n}"],
      parse: ([tag = "", n]) => ({ tag, n: Number(n) || 0 }),
    };
    const row = parsePaneRow([...BASE, "t", "7", "extra", "more"].join(SEP), fields);
    expect(row?.info).toMatchObject({ paneId: "%12", piped: true, tag: "t", n: 7 });
    expect(row?.extra).toEqual(["extra", "more"]);
    // An untagged pane: its options read as "".
    expect(parsePaneRow([...BASE, "", ""].join(SEP), fields)?.info).toMatchObject({ tag: "", n: 0 });
    // The caller's fields are not optional.
    expect(parsePaneRow([...BASE, "t"].join(SEP), fields)).toBeUndefined();
  });
});

describe("Pane (tmux.pane(target))", () => {
  it("fills in -t for options, pipes, captures, keys and kill", async () => {
    const { tmux, calls } = fake({ out: "value\n" });
    const pane = tmux.pane("%3");
    await pane.setOption("@o", "v", "window");
    await pane.unsetOption("@o", "window");
    await pane.setOption("@p", "ends;");
    expect(await pane.option("@o")).toBe("value");
    await pane.pipe("exec cat", { outputOnly: true });
    await pane.pipe();
    expect(await pane.capture()).toBe("value\n");
    await pane.capture({ join: false, start: -5 });
    await pane.sendKeys(["C-c"]);
    await pane.sendLiteral("hi", ["C-u"]);
    await pane.kill();
    expect(calls()).toEqual([
      ["set-option", "-w", "-t", "%3", "@o", "v"],
      ["set-option", "-w", "-u", "-t", "%3", "@o"],
      ["set-option", "-p", "-t", "%3", "@p", "ends\\;"],
      ["display-message", "-p", "-t", "%3", "#{@o}"],
      ["pipe-pane", "-O", "-t", "%3", "exec cat"],
      ["pipe-pane", "-t", "%3"],
      ["capture-pane", "-p", "-J", "-t", "%3"],
      ["capture-pane", "-p", "-t", "%3", "-S", "-5"],
      ["send-keys", "-t", "%3", "C-c"],
      ["send-keys", "-t", "%3", "C-u", ";", "send-keys", "-t", "%3", "-l", "--", "hi"],
      ["kill-pane", "-t", "%3"],
    ]);
  });

  it("pastes through a buffer loaded from stdin: the text is on no command line", async () => {
    const { tmux, calls } = fake();
    await tmux.pane("%3").paste("s3cret");
    const [load, paste] = calls();
    expect(load?.slice(0, 2)).toEqual(["load-buffer", "-b"]);
    expect(load?.[3]).toBe("-");
    expect(paste).toEqual(["paste-buffer", "-d", "-r", "-b", load?.[2], "-t", "%3"]);
    expect(JSON.stringify(calls())).not.toContain("s3cret");
  });

  it("reads its state with the client's fields in one display-message", async () => {
    const fields: PaneFields<{ owner: string }> = {
      formats: ["#{@owner}"],
      parse: ([owner = ""]) => ({ owner }),
    };
    const { tmux, calls } = fake({ out: [...BASE, "me"].join(SEP) + "\n" }, { paneFields: fields });
    expect(await tmux.pane("%12").info()).toMatchObject({ paneId: "%12", width: 120, owner: "me" });
    expect(calls()).toEqual([["display-message", "-p", "-t", "%12", `${PANE_FORMAT}${SEP}#{@owner}`]]);
    // An answer for another pane is no answer for this one.
    expect(await tmux.pane("%13").info()).toBeUndefined();
  });
});

describe("failures", () => {
  it("reject with a TmuxError: tmux's stderr, the command, the exit code", async () => {
    const { tmux } = fake({ exit: 1, err: "no server running on /tmp/x" });
    const err = await tmux.run(["list-panes", "-a"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TmuxError);
    expect(err).toMatchObject({
      stderr: "no server running on /tmp/x",
      command: "list-panes",
      exitCode: 1,
      message: "tmux list-panes failed: no server running on /tmp/x",
    });
  });

  it("leave the client through mapError; its own reading of them is unchanged", async () => {
    class Mapped extends Error {
      constructor(readonly inner: TmuxError) {
        super(`mapped: ${inner.message}`);
      }
    }
    const seen: Error[] = [];
    const { tmux } = fake({ exit: 1, err: "can't find pane: %9" }, { mapError: (e) => new Mapped(e) });
    tmux.onError = (e) => seen.push(e);
    for (const call of [
      () => tmux.run(["x"]),
      () => tmux.capture("%9"),
      () => tmux.sendKeys("%9", ["a"]),
      () => tmux.sendLiteral("%9", "a"),
      () => tmux.pasteText("%9", "a"),
      () => tmux.pane("%9").setOption("@o", "v"),
    ])
      await expect(call()).rejects.toBeInstanceOf(Mapped);
    // A gone pane: runIf ran nothing, paneInfo has no pane (and says why), listPanes none.
    expect(await tmux.runIf("%9", "1", [["send-keys", "-t", "%9", "a"]])).toBe(false);
    expect(await tmux.paneInfo("%9")).toBeUndefined();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(Mapped);
    expect(await tmux.listPanes()).toEqual([]);
    // Any other refusal of runIf's check is a failure.
    const other = fake({ exit: 1, err: "unknown command" }, { mapError: (e) => new Mapped(e) });
    await expect(other.tmux.runIf("%9", "1", [])).rejects.toBeInstanceOf(Mapped);
  });

  it("a tmux that cannot start has no exit code", async () => {
    const tmux = new Tmux("sock", { tmuxPath: join(dir, "missing") });
    await expect(tmux.run(["x"])).rejects.toMatchObject({ command: "x", exitCode: null });
  });
});
