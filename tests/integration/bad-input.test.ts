import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.js";

let h: Harness;
let sid: string;

beforeAll(async () => {
  h = await startHarness();
  sid = ((await h.call("open_session", { profile: "test" })).session as { session_id: string }).session_id;
});

afterAll(async () => {
  await h?.close();
});

describe("bad input gets a clear error result and the server keeps serving", () => {
  const cases: [string, string, Record<string, unknown>, string, RegExp][] = [
    [
      "unknown session",
      "execute_command",
      { session_id: "nope-1", command: "true" },
      "UNKNOWN_SESSION",
      /list_sessions/,
    ],
    [
      "traversal in session id",
      "get_transcript",
      { session_id: "../../etc/passwd" },
      "INVALID_ARGUMENT",
      /session_id/,
    ],
    ["unknown profile", "open_session", { profile: "does-not-exist" }, "UNKNOWN_PROFILE", /does-not-exist/],
    ["missing field", "execute_command", { session_id: "x" }, "INVALID_ARGUMENT", /'command'/],
    ["wrong type", "execute_command", { session_id: "x", command: 42 }, "INVALID_ARGUMENT", /'command'/],
    [
      "negative timeout",
      "execute_command",
      { session_id: "x", command: "true", timeout: -1 },
      "INVALID_ARGUMENT",
      /'timeout'/,
    ],
    [
      "huge timeout",
      "send_text",
      { session_id: "x", text: "a", timeout: 1e12 },
      "INVALID_ARGUMENT",
      /'timeout'/,
    ],
    ["lines out of range", "get_screen", { session_id: "x", lines: 0 }, "INVALID_ARGUMENT", /'lines'/],
    ["fractional tail", "get_transcript", { session_id: "x", tail: 1.5 }, "INVALID_ARGUMENT", /'tail'/],
    [
      "oversize text",
      "send_text",
      { session_id: "x", text: "a".repeat(100_001) },
      "INVALID_ARGUMENT",
      /'text'/,
    ],
    [
      "oversize command",
      "execute_command",
      { session_id: "x", command: "a".repeat(100_001) },
      "INVALID_ARGUMENT",
      /'command'/,
    ],
    ["empty keys", "send_keys", { session_id: "x", keys: [] }, "INVALID_ARGUMENT", /'keys'/],
    // Tags are read back one line per pane, fields joined by |:|: a label holding it (or a line
    // break) would shift the fields after it, and could name another tmux session as this one's.
    [
      "owner label with the tag separator",
      "open_session",
      { profile: "test", owner_label: "x|:|y|:|victim" },
      "INVALID_ARGUMENT",
      /'owner_label'/,
    ],
    [
      "owner label with a line break",
      "open_session",
      { profile: "test", owner_label: "a\nb" },
      "INVALID_ARGUMENT",
      /'owner_label'/,
    ],
    ["unknown tool", "rm_rf", {}, "INVALID_ARGUMENT", /Unknown tool/],
  ];
  for (const [name, tool, args, code, msg] of cases) {
    it(name, async () => {
      const r = await h.call(tool, args);
      expect(r).toMatchObject({ ok: false, code });
      expect(r.error).toMatch(msg);
      expect(r.error).not.toMatch(/\n\s+at /);
    });
  }

  it("session-level bad input", async () => {
    expect(await h.call("send_keys", { session_id: sid, keys: ["NotAKey"] })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    expect(
      await h.call("send_text", { session_id: sid, text: "x", wait_for: "(", regex: true }),
    ).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    expect(await h.call("get_command", { session_id: sid, command_id: "cmd-nope" })).toMatchObject({
      ok: false,
      code: "UNKNOWN_COMMAND",
    });
    expect(await h.call("execute_command", { session_id: sid, command: "   " })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
  });

  it("large text in one send arrives whole", async () => {
    const text = "x".repeat(30_000);
    const r = await h.call("execute_command", { session_id: sid, command: `printf %s '${text}' | wc -c` });
    expect((r.output as string).trim()).toBe("30000");
    const semi = await h.call("execute_command", { session_id: sid, command: "echo ends-with-semicolon;" });
    expect(semi.output).toBe("ends-with-semicolon\n");
    const dash = await h.call("send_text", { session_id: sid, text: "-la", enter: false, timeout: 0.5 });
    expect(dash.ok).toBe(true);
    await h.call("send_keys", { session_id: sid, keys: ["C-u"] });
  });

  it("still serves after all of that", async () => {
    const r = await h.call("execute_command", { session_id: sid, command: "echo still-serving" });
    expect(r).toMatchObject({ ok: true, output: "still-serving\n" });
  });
});
