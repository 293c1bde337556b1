import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

let h: Harness;
let sid: string;
let logs: string;

beforeAll(async () => {
  h = await startHarness();
  const open = await h.call("open_session", { profile: "test" });
  sid = (open.session as { session_id: string }).session_id;
  // The sshd runs on this machine, so files made here are "remote" files for the session.
  logs = mkdtempSync(join(tmpdir(), "ssh-mcp-logs-"));
  mkdirSync(join(logs, "sub dir"));
  writeFileSync(join(logs, "app.log"), "ok start\nERROR payment failed id=1\nok\nerror: timeout after 30s\n");
  writeFileSync(join(logs, "sub dir", "worker.log"), "Error 'quoted' thing\nfine\n");
  writeFileSync(join(logs, "notes.txt"), "ERROR not a log file\n");
  writeFileSync(
    join(logs, "ts.log"),
    "2024-05-01 12:00:01 WARN low disk\n2024-05-01 12:00:02 FATAL disk full\n2024-05-01 12:00:03 INFO stop\n",
  );
});

afterAll(async () => {
  await h?.close();
  if (logs) rmSync(logs, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("send_text / send_keys", () => {
  it("answers a prompt with wait_for (substring and regex)", async () => {
    const ask = await h.call("send_text", {
      session_id: sid,
      text: "read -p 'Your name: ' NAME; echo \"hello [$NAME]\"",
      wait_for: "^Your name: ?$",
      regex: true,
      timeout: 10,
    });
    expect(ask).toMatchObject({ ok: true, matched: "Your name: ", timed_out: false });
    const answer = await h.call("send_text", {
      session_id: sid,
      text: "world",
      wait_for: "hello \\[(\\w+)\\]",
      regex: true,
      timeout: 10,
    });
    expect(answer).toMatchObject({ ok: true, matched: "hello [world]", timed_out: false });
    expect(answer.output).toContain("hello [world]");
  });

  it("reports timed_out when wait_for never appears", async () => {
    const r = await h.call("send_text", {
      session_id: sid,
      text: "echo nothing-here",
      wait_for: "NEVER-SEEN",
      timeout: 0.5,
    });
    expect(r).toMatchObject({ ok: true, matched: null, timed_out: true });
  });

  it("send_keys sends control keys to a running program", async () => {
    await h.call("send_text", { session_id: sid, text: "cat", timeout: 2 });
    await h.call("send_text", {
      session_id: sid,
      text: "typed-into-cat",
      wait_for: "typed-into-cat\ntyped-into-cat",
      timeout: 5,
    });
    const r = await h.call("send_keys", { session_id: sid, keys: ["C-d"] });
    expect(r).toMatchObject({ ok: true, sent: ["C-d"] });
    const after = await h.call("execute_command", {
      session_id: sid,
      command: "echo back-at-shell",
      timeout: 10,
    });
    expect(after).toMatchObject({ ok: true, output: "back-at-shell\n", exit_code: 0 });
  });

  it("sensitive text is redacted in the transcript and the result", async () => {
    const secret = "s3cr3t-Value-42";
    const r = await h.call("send_text", {
      session_id: sid,
      text: `read -s -p 'Password: ' PW; echo; echo "len=\${#PW}"`,
      // The prompt line itself, not the echo of the typed command (which also says Password:).
      wait_for: "^Password: ?$",
      regex: true,
      timeout: 10,
    });
    expect(r.ok).toBe(true);
    const s = await h.call("send_text", {
      session_id: sid,
      text: secret,
      sensitive: true,
      wait_for: "len=15",
      timeout: 10,
    });
    expect(s).toMatchObject({ ok: true, matched: "len=15" });
    expect(JSON.stringify(s)).not.toContain(secret);
    const t = await h.call("get_transcript", { session_id: sid, tail: 50 });
    expect(JSON.stringify(t)).not.toContain(secret);
    expect(readFileSync(t.transcript_path as string, "utf8")).not.toContain(secret);
    expect(JSON.stringify(t.events)).toContain("[REDACTED]");
  });
});

describe("get_screen", () => {
  it("shows the rendered terminal with cursor and size", async () => {
    await h.call("execute_command", {
      session_id: sid,
      command: "clear; echo screen-line-1; echo screen-line-2",
    });
    const s = await h.call("get_screen", { session_id: sid, lines: 5 });
    expect(s).toMatchObject({ ok: true, width: 120, height: 40, alternate_screen: false });
    expect(s.screen).toContain("screen-line-2");
    const lines = (s.screen as string).split("\n");
    expect(lines.length).toBeLessThanOrEqual(5);
    expect((s.cursor as { y: number }).y).toBeGreaterThan(0);
  });

  it("reports the alternate screen of a full-screen program and keeps ANSI on request", async () => {
    await h.call("send_text", {
      session_id: sid,
      text: "printf '\\033[?1049h\\033[H\\033[32mFULLSCREEN\\033[0m'; read _",
      timeout: 2,
    });
    const s = await pollUntil(async () => {
      const r = await h.call("get_screen", { session_id: sid, ansi: true });
      return r.alternate_screen ? r : undefined;
    });
    expect(s.screen).toContain("FULLSCREEN");
    expect(s.screen).toMatch(/\x1b\[[0-9;]*m/);
    await h.call("send_text", { session_id: sid, text: "", enter: true, timeout: 2 });
    await h.call("send_text", { session_id: sid, text: "printf '\\033[?1049l'", timeout: 2 });
    const back = await pollUntil(async () => {
      const r = await h.call("get_screen", { session_id: sid });
      return r.alternate_screen === false ? r : undefined;
    });
    expect(back.screen).not.toMatch(/\x1b/);
  });
});

describe("get_transcript", () => {
  it("returns whole parsed events: meta first, sends, recvs and command events", async () => {
    await h.call("execute_command", { session_id: sid, command: "echo transcript-check" });
    const t = await h.call("get_transcript", { session_id: sid, tail: 10_000 });
    const events = t.events as { dir: string; session_id: string; ts: string; text?: string }[];
    expect(events[0]?.dir).toBe("session_meta");
    const dirs = new Set(events.map((e) => e.dir));
    for (const d of ["send", "recv", "command_start", "command_complete", "event"]) expect(dirs).toContain(d);
    for (const e of events) {
      expect(e.session_id).toBe(sid);
      expect(Number.isNaN(Date.parse(e.ts))).toBe(false);
    }
    const raw = readFileSync(t.transcript_path as string, "utf8")
      .trimEnd()
      .split("\n");
    for (const line of raw) expect(() => JSON.parse(line)).not.toThrow();
    // The shell's next prompt may land after the reply: the reply is a prefix of the file.
    expect(raw.length).toBeGreaterThanOrEqual(events.length);
    expect(raw.slice(0, events.length).map((l) => JSON.parse(l))).toEqual(events);
    const last3 = await h.call("get_transcript", { session_id: sid, tail: 3 });
    expect(last3.events).toHaveLength(3);
  });
});

describe("search_logs", () => {
  it("returns structured matches from the current shell", async () => {
    const r = await h.call("search_logs", { session_id: sid, pattern: "error", path: logs });
    expect(r.ok).toBe(true);
    const matches = r.matches as { file: string; line: number; text: string }[];
    const got = matches.map((m) => `${m.file.slice(logs.length + 1)}:${m.line}:${m.text}`).sort();
    expect(got).toEqual([
      "app.log:2:ERROR payment failed id=1",
      "app.log:4:error: timeout after 30s",
      "sub dir/worker.log:1:Error 'quoted' thing",
    ]);
    expect(r.exit_code).toBe(0);
  });

  it("with context, only real matches are matches (timestamps in context lines)", async () => {
    const r = await h.call("search_logs", { session_id: sid, pattern: "FATAL", path: logs, context: 1 });
    expect(r.matches).toEqual([
      { file: join(logs, "ts.log"), line: 2, text: "2024-05-01 12:00:02 FATAL disk full" },
    ]);
    expect(r.output).toContain(`${join(logs, "ts.log")}-1-2024-05-01 12:00:01 WARN low disk`);
    expect(r.exit_code).toBe(0);
    const missing = await h.call("search_logs", { session_id: sid, pattern: "x", path: join(logs, "nope") });
    expect(missing).toMatchObject({ ok: true, exit_code: 2, matches: [] });
  });

  it("honours ignore_case, include, quoting and max_count", async () => {
    const cs = await h.call("search_logs", {
      session_id: sid,
      pattern: "ERROR",
      path: logs,
      ignore_case: false,
    });
    expect((cs.matches as unknown[]).length).toBe(1);
    const txt = await h.call("search_logs", {
      session_id: sid,
      pattern: "ERROR",
      path: logs,
      include: "*.txt",
    });
    expect((txt.matches as { file: string }[]).map((m) => m.file)).toEqual([join(logs, "notes.txt")]);
    const q = await h.call("search_logs", { session_id: sid, pattern: "'quoted' thing", path: logs });
    expect((q.matches as unknown[]).length).toBe(1);
    const one = await h.call("search_logs", { session_id: sid, pattern: "error", path: logs, max_count: 1 });
    expect((one.matches as unknown[]).length).toBe(1);
    const none = await h.call("search_logs", {
      session_id: sid,
      pattern: "no-such-text-anywhere",
      path: logs,
    });
    expect(none.matches).toEqual([]);
    expect(none.exit_code).toBe(1);
  });
});
