import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { killTmuxServer, tmuxEnv, uniqueSocket } from "../support/tmux.js";
import { CONTROL_SESSION, TmuxControl } from "../../src/tmux/control.js";
import { pollUntil } from "../support/poll.js";
import { Tmux } from "../../src/tmux/client.js";
import { commandString } from "../../src/tmux/command.js";

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
