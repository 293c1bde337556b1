import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

/**
 * Hostile input everywhere, generated: control characters, NUL, lone surrogates, huge strings,
 * negative and huge numbers, traversal in ids, regex bombs. Every call must come back as a
 * correct result or an error result (ok:false with a code), within its timeout, and the server
 * must keep serving with every transcript line still whole JSON.
 */

let h: Harness;
let sid: string;
let transcript: string;

const nasty = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({ unit: "grapheme", maxLength: 100 }),
  fc.constantFrom(
    "",
    "\u0000",
    "\u0003",
    "\u001b[2J",
    "\ud800",
    "../../etc/passwd",
    "%s%n",
    "$(reboot)",
    "`id`",
    "\r\n\r\n",
    "a".repeat(70_000),
  ),
);
const anyValue = fc.oneof(
  nasty,
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 1e308, Number.MAX_SAFE_INTEGER, null, true, [], {}),
);

function isResult(r: Record<string, unknown>): boolean {
  if (r.ok === true) return true;
  return (
    r.ok === false && typeof r.code === "string" && /^[A-Z_]+$/.test(r.code) && typeof r.error === "string"
  );
}

beforeAll(async () => {
  h = await startHarness();
  const open = await h.call("open_session", { profile: "test" });
  const s = open.session as { session_id: string; transcript_path: string };
  sid = s.session_id;
  transcript = s.transcript_path;
  // Hostile text may hold Ctrl-D at an empty prompt, which rightly logs the shell out: make this
  // shell ignore EOF so the property can go on in one session.
  await h.call("execute_command", { session_id: sid, command: "IGNOREEOF=1000000" });
});

afterAll(async () => {
  await h?.close();
});

describe("hostile input", () => {
  it("any value in any field of any tool gives a result or an error result", async () => {
    const tools = (await h.client.listTools()).tools;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          ...tools.map((t) => t.name).filter((n) => n !== "open_session" && n !== "reopen_session"),
        ),
        fc.dictionary(
          fc.constantFrom(
            "session_id",
            "text",
            "command",
            "keys",
            "lines",
            "tail",
            "timeout",
            "pattern",
            "path",
            "command_id",
            "output_limit",
            "wait_for",
            "regex",
            "profile",
            "actor",
            "ttl",
          ),
          anyValue,
          { maxKeys: 5 },
        ),
        async (tool, args) => {
          // Short timeouts so nothing waits long; hostile args against our one real session too.
          const call = { ...args, timeout: 0.2 } as Record<string, unknown>;
          if (tool === "close_session") return; // would end the session the rest depends on
          const r = await h.call(tool, call);
          expect(
            isResult(r),
            `${tool} ${JSON.stringify(call).slice(0, 200)} -> ${JSON.stringify(r).slice(0, 200)}`,
          ).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("hostile text and commands into a live session never corrupt the transcript", async () => {
    await fc.assert(
      fc.asyncProperty(nasty, fc.boolean(), async (text, asCommand) => {
        const r = asCommand
          ? await h.call("execute_command", { session_id: sid, command: text, timeout: 1 })
          : await h.call("send_text", { session_id: sid, text, enter: false, timeout: 0.2 });
        expect(isResult(r)).toBe(true);
        // Whatever happened, get the shell back to a clean prompt for the next case: a random
        // Ctrl-S (XOFF) stops the terminal's output until Ctrl-Q, Ctrl-Z suspends, ...
        if (r.status === "running") await h.call("interrupt", { session_id: sid });
        // More than one C-c: a random text may end in a prefix that eats the next key (^V makes
        // it literal, ESC and C-x start a key sequence).
        await h.call("send_keys", { session_id: sid, keys: ["C-q", "C-c", "C-c", "C-c"] });
      }),
      { numRuns: 40 },
    );
    await h.call("send_text", {
      session_id: sid,
      text: "stty sane; kill -9 $(jobs -p) 2>/dev/null",
      timeout: 1,
    });
    // Back at the shell's prompt (a continuation prompt left by a random text is cancelled).
    const back = await pollUntil(
      async () => {
        const r = await h.call("execute_command", {
          session_id: sid,
          command: "echo still-fine",
          timeout: 10,
        });
        if (r.code === "SCREEN_BUSY") {
          await h.call("send_keys", { session_id: sid, keys: ["C-c"] });
          return undefined;
        }
        return r;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(back, JSON.stringify(back)).toMatchObject({ ok: true, output: "still-fine\n" });
    for (const line of readFileSync(transcript, "utf8").trimEnd().split("\n"))
      expect(() => JSON.parse(line)).not.toThrow();
  });

  it("regex bombs in wait_for and search_logs come back within their timeout", async () => {
    for (const bomb of ["(a+)+$", "(x+x+)+y", "^(([a-z])+.)+[A-Z]([a-z])+$"]) {
      await h.call("execute_command", { session_id: sid, command: `printf '%s\\n' ${"a".repeat(40)}!` });
      const r = await h.call("send_text", {
        session_id: sid,
        text: `echo ${"a".repeat(30)}`,
        wait_for: bomb,
        regex: true,
        timeout: 1,
      });
      expect(isResult(r)).toBe(true);
      const s = await h.call("search_logs", {
        session_id: sid,
        pattern: bomb,
        path: "/etc",
        include: "hostname",
        timeout: 5,
      });
      expect(isResult(s)).toBe(true);
    }
    expect((await h.call("list_sessions")).ok).toBe(true);
  });

  it("wait_for regexes run on RE2: a catastrophic one matches in linear time, lookaround is refused", async () => {
    // A line of 40 a's and a '!' before the match: V8's backtracking tries 2^40 ways to split it
    // before moving on (the event loop would freeze for hours); RE2 is linear.
    const a = "a".repeat(40);
    const r = await h.call("send_text", {
      session_id: sid,
      text: `printf '%s!\\n%sZZ\\n' ${a} ${a}`,
      wait_for: "^(a|aa)+ZZ$",
      regex: true,
      timeout: 10,
    });
    expect(r).toMatchObject({ ok: true, matched: `${"a".repeat(40)}ZZ`, timed_out: false });
    const look = await h.call("send_text", {
      session_id: sid,
      text: "true",
      wait_for: "a(?=b)",
      regex: true,
    });
    expect(look).toMatchObject({ ok: false, code: "INVALID_ARGUMENT" });
    expect(String(look.error)).toMatch(/RE2/);
    // Linear in the text, but a huge compiled pattern would still cost seconds a pass: refused.
    const huge = await h.call("send_text", {
      session_id: sid,
      text: "true",
      wait_for: "(.{0,100}){10}[#%]",
      regex: true,
    });
    expect(huge).toMatchObject({ ok: false, code: "INVALID_ARGUMENT" });
    expect(String(huge.error)).toMatch(/too large/);
  });
});
