import { describe, expect, it } from "vitest";
import { ControlParser } from "../../src/tmux/control.js";
import { commandString } from "../../src/tmux/client.js";

describe("commandString as a control line", () => {
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
});

describe("ControlParser", () => {
  it("answers only blocks of our own commands, in order, with their output", () => {
    const got: [boolean, string][] = [];
    const p = new ControlParser((ok, out) => got.push([ok, out]));
    p.push("%begin 1 260 0\n%end 1 260 0\n%window-add @0\n%sessions-changed\n");
    p.push("%begin 1 267 1\n%end 1 267 1\n%begin 1 268 1\n%1 0\nsec");
    p.push("ond line\n%end 1 268 1\n%output %0 noise\n");
    p.push("%begin 1 269 1\ncan't find pane: %9\n%error 1 269 1\n");
    expect(got).toEqual([
      [true, ""],
      [true, "%1 0\nsecond line"],
      [false, "can't find pane: %9"],
    ]);
  });
});
