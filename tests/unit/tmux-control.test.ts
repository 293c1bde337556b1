import { describe, expect, it } from "vitest";
import { ControlParser } from "../../src/tmux/control.js";

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
