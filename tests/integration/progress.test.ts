import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseProfile, startHarness, type Cmd, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

/**
 * Progress notifications and server-side waiting, through the built bin with the SDK's client:
 * notifications for long calls (throttled, heartbeats, redacted, at most 200 characters), none
 * without a progress token; get_command's `wait`, get_screen's `wait_for`, and a cancelled wait.
 */
let h: Harness;
let sid: string;
/** Every message the server sent, as the client's transport received it. */
const received: JSONRPCMessage[] = [];

/** The secret printed by the remote: built there from two halves, so the typed line never holds it. */
const TOKEN_BODY = "FAKEaUB73cojFZS1COqkUAV3q4WZwmT2OxHT";
const TOKEN = `ghp_${TOKEN_BODY}`;

interface Note {
  progress: number;
  message?: string;
}

beforeAll(async () => {
  h = await startHarness({ env: { SSH_MCP_PROGRESS_HEARTBEAT_MS: "500" } });
  // A bastion-like login: two questions before the shell (open_session's route steps).
  const menu = await h.sshd.keyForCommand(
    // No double quote: the command sits in authorized_keys' command="...".
    `printf 'Target IP: '; read ip; printf 'Env for %s: ' $ip; read env; echo routed to $ip/$env; exec sh -i`,
  );
  const profiles = {
    test: baseProfile(h.sshd),
    plain: baseProfile(h.sshd, { security: { redact_transcripts: false } }),
    menu: baseProfile(h.sshd, {
      key_filename: menu,
      route: [
        { expect: "Target IP:", send: "10.0.0.7" },
        { expect: "Env for [0-9.]+:", send: "prod" },
      ],
    }),
  };
  writeFileSync(h.configPath, JSON.stringify({ profiles }, null, 2));
  await h.restartClient();
  watchTransport();
  const open = await h.call("open_session", { profile: "test" });
  sid = (open.session as { session_id: string }).session_id;
}, 120_000);

afterAll(async () => {
  await h?.close();
});

/** Records what the server sends, before the client's own handling. */
function watchTransport(): void {
  const t = h.client.transport;
  if (!t) throw new Error("the client has no transport");
  const handle = t.onmessage;
  t.onmessage = (msg, extra) => {
    received.push(msg);
    handle?.(msg, extra);
  };
}

/** A tool call with a progress token: its result and the notifications it got. */
async function callWithProgress(
  tool: string,
  args: Record<string, unknown>,
): Promise<{ result: Record<string, unknown>; notes: Note[] }> {
  const notes: Note[] = [];
  const res = await h.client.callTool({ name: tool, arguments: args }, undefined, {
    onprogress: (p) => notes.push({ progress: p.progress, message: p.message }),
    timeout: 60_000,
    resetTimeoutOnProgress: true,
  });
  return { result: res.structuredContent as Record<string, unknown>, notes };
}

/** Every notification: at most 200 characters, progress strictly growing, no secret. */
function expectWellFormed(notes: Note[]): void {
  for (const [i, n] of notes.entries()) {
    expect(typeof n.message).toBe("string");
    expect((n.message ?? "").length).toBeLessThanOrEqual(200);
    expect(n.message).not.toContain(TOKEN_BODY.slice(0, 12));
    if (i > 0) expect(n.progress).toBeGreaterThan(notes[i - 1]?.progress ?? 0);
  }
}

/** The logs of every server the harness started, in one text (only grows). */
function serverLog(): string {
  const instances = join(h.runtimeDir, "instances");
  return readdirSync(instances)
    .map((d) => join(instances, d, "logs", "ssh_mcp.log"))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, "utf8"))
    .join("");
}

function progressSeen(): number {
  return received.filter((m) => "method" in m && m.method === "notifications/progress").length;
}

describe("progress notifications", () => {
  it("execute_command reports a slowly printing command, throttled and redacted", async () => {
    const { result, notes } = await callWithProgress("execute_command", {
      session_id: sid,
      command: `for i in 1 2 3; do echo line$i; printf 'tok ghp_%s\\n' ${TOKEN_BODY}; sleep 1; done`,
      timeout: 30,
    });
    expect(result).toMatchObject({ ok: true, status: "completed", exit_code: 0 });
    expect(JSON.stringify(result)).not.toContain(TOKEN);
    expect(notes.length).toBeGreaterThanOrEqual(3);
    expectWellFormed(notes);
    const messages = notes.map((n) => n.message ?? "");
    expect(messages.some((m) => /^running.*: (line\d|tok \[REDACTED\])$/.test(m))).toBe(true);
    expect(messages.some((m) => m.includes("tok [REDACTED]"))).toBe(true);
    // Throttled and heartbeat alike: two notifications are at least ~0.5 s apart (server time).
    for (let i = 1; i < notes.length; i++)
      expect((notes[i]?.progress ?? 0) - (notes[i - 1]?.progress ?? 0)).toBeGreaterThan(0.45);
  });

  it("redacts on its own where the profile keeps transcripts unredacted", async () => {
    const open = await h.call("open_session", { profile: "plain" });
    const plainSid = (open.session as { session_id: string }).session_id;
    const { result, notes } = await callWithProgress("execute_command", {
      session_id: plainSid,
      command: `for i in 1 2; do printf 'tok ghp_%s\\n' ${TOKEN_BODY}; sleep 1; done`,
      timeout: 30,
    });
    // The profile's choice: the result carries the token as printed...
    expect((result as unknown as Cmd).output).toContain(TOKEN);
    // ...but no progress message ever does.
    expectWellFormed(notes);
    expect(notes.some((n) => n.message === "running: tok [REDACTED]")).toBe(true);
    await h.call("close_session", { session_id: plainSid });
  });

  it("a flood of output gives a handful of notifications, not one per chunk", async () => {
    const { result, notes } = await callWithProgress("execute_command", {
      session_id: sid,
      command: "i=0; while [ $i -lt 30 ]; do seq 1 2000; sleep 0.05; i=$((i+1)); done",
      timeout: 60,
    });
    expect(result).toMatchObject({ ok: true, status: "completed", exit_code: 0 });
    expectWellFormed(notes);
    const last = notes[notes.length - 1]?.progress ?? 0;
    expect(notes.length).toBeLessThanOrEqual(Math.ceil(last / 0.5) + 2);
  });

  it("sends heartbeats while a command is quiet", async () => {
    const { result, notes } = await callWithProgress("execute_command", {
      session_id: sid,
      command: "sleep 3",
      timeout: 30,
    });
    expect(result).toMatchObject({ ok: true, status: "completed" });
    expectWellFormed(notes);
    // SSH_MCP_PROGRESS_HEARTBEAT_MS=500: several in 3 quiet seconds, saying so.
    expect(notes.length).toBeGreaterThanOrEqual(3);
    expect(notes.some((n) => /^running \(no output for \d+ s\)/.test(n.message ?? ""))).toBe(true);
  });

  it("sends nothing when the call carries no progress token", async () => {
    const before = progressSeen();
    const r = (await h.call("execute_command", {
      session_id: sid,
      command: "echo a; sleep 2; echo b",
      timeout: 30,
    })) as unknown as Cmd;
    expect(r).toMatchObject({ ok: true, status: "completed", output: "a\nb\n" });
    const waited = (await h.call("get_screen", {
      session_id: sid,
      wait_for: "NEVER-ON-THIS-SCREEN",
      timeout: 1.5,
    })) as Record<string, unknown>;
    expect(waited).toMatchObject({ ok: true, matched: null, timed_out: true });
    expect(progressSeen()).toBe(before);
  });

  it("send_text with wait_for and search_logs report too; a secret's send shows no output", async () => {
    const sent = await callWithProgress("send_text", {
      session_id: sid,
      text: "sleep 1; echo send-text-$((1+1))",
      wait_for: "send-text-2",
      timeout: 30,
    });
    expect(sent.result).toMatchObject({ ok: true, matched: "send-text-2" });
    expectWellFormed(sent.notes);
    expect(sent.notes.length).toBeGreaterThanOrEqual(1);
    expect(sent.notes.every((n) => n.message?.startsWith('waiting for "send-text-2"'))).toBe(true);

    const found = await callWithProgress("search_logs", {
      session_id: sid,
      pattern: "x",
      path: "/nonexistent",
    });
    expect(found.result).toMatchObject({ ok: true, status: "completed" });
    expectWellFormed(found.notes);
    expect(found.notes.length).toBeGreaterThanOrEqual(1);
    expect(found.notes.every((n) => n.message?.startsWith("searching"))).toBe(true);

    // A secret typed where it echoes (a plain read): its progress never shows the output line.
    await h.call("send_text", { session_id: sid, text: "read x; echo typed-$x", timeout: 1 });
    const secret = await callWithProgress("send_text", {
      session_id: sid,
      text: "s3cret-value",
      sensitive: true,
      wait_for: "typed-",
      timeout: 30,
    });
    expect(secret.result).toMatchObject({ ok: true, matched: "typed-" });
    expectWellFormed(secret.notes);
    for (const n of secret.notes)
      expect(n.message).toMatch(/^waiting for "typed-"( \(no output for \d+ s\))?$/);
  });

  it("open_session reports its steps, route steps included", async () => {
    const { result, notes } = await callWithProgress("open_session", { profile: "menu" });
    expect(result).toMatchObject({ ok: true });
    expectWellFormed(notes);
    const messages = notes.map((n) => n.message ?? "");
    expect(messages[0]).toMatch(/^connecting to 127\.0\.0\.1:\d+$/);
    expect(messages.some((m) => m.startsWith("route step 1/2: waiting for 'Target IP:'"))).toBe(true);
    expect(messages.some((m) => m.startsWith("route step 2/2: waiting for 'Env for [0-9.]+:'"))).toBe(true);
    expect(messages.some((m) => m.startsWith("checking the shell"))).toBe(true);
    const menuSid = (result.session as { session_id: string }).session_id;
    const r = await h.call("execute_command", { session_id: menuSid, command: "echo in-menu-shell" });
    expect(r).toMatchObject({ ok: true, output: "in-menu-shell\n" });
    await h.call("close_session", { session_id: menuSid });
    // reopen_session logs in the same way, with the same steps.
    const again = await callWithProgress("reopen_session", { session_id: menuSid });
    expect(again.result).toMatchObject({ ok: true, previous_session_id: menuSid });
    expectWellFormed(again.notes);
    const steps = again.notes.map((n) => n.message ?? "");
    expect(steps[0]).toMatch(/^connecting to 127\.0\.0\.1:\d+$/);
    expect(steps.some((m) => m.startsWith("route step 2/2: "))).toBe(true);
    await h.call("close_session", {
      session_id: (again.result.session as { session_id: string }).session_id,
    });
  });
});

describe("get_command wait", () => {
  it("returns as soon as the command completes", async () => {
    const run = (await h.call("execute_command", {
      session_id: sid,
      command: "sleep 2; echo done-waiting",
      timeout: 0.3,
    })) as unknown as Cmd;
    expect(run).toMatchObject({ ok: true, status: "running" });
    // A wait far longer than the test's own timeout: only an early return passes.
    const { result, notes } = await callWithProgress("get_command", {
      session_id: sid,
      command_id: run.command_id,
      wait: 600,
    });
    expect(result).toMatchObject({ ok: true, command: { status: "completed", exit_code: 0 } });
    expect((result.command as Cmd).output).toBe("done-waiting\n");
    expectWellFormed(notes);
    expect(notes.length).toBeGreaterThanOrEqual(1);
    expect(notes[0]?.message).toMatch(/^waiting for cmd-/);
  });

  it("returns when the command asks for a password", async () => {
    const run = (await h.call("execute_command", {
      session_id: sid,
      command: "sleep 1; read -s -p 'Password: ' x; echo; echo got-${#x}",
      timeout: 0.3,
    })) as unknown as Cmd;
    expect(run).toMatchObject({ ok: true, status: "running" });
    expect(run.state).toBeUndefined();
    const waited = await h.call("get_command", { session_id: sid, command_id: run.command_id, wait: 600 });
    expect(waited.command).toMatchObject({
      status: "running",
      state: "awaiting_input",
      input_kind: "password",
    });
    await h.call("send_text", { session_id: sid, text: "hunter22", sensitive: true });
    const done = await h.call("get_command", { session_id: sid, command_id: run.command_id, wait: 600 });
    expect(done.command).toMatchObject({ status: "completed", exit_code: 0 });
    expect((done.command as Cmd).output).toContain("got-8");
  });

  it("returns at the end of the wait when nothing happens", async () => {
    const run = (await h.call("execute_command", {
      session_id: sid,
      command: "sleep 30",
      timeout: 0.3,
    })) as unknown as Cmd;
    const waited = await h.call("get_command", { session_id: sid, command_id: run.command_id, wait: 1 });
    expect(waited).toMatchObject({ ok: true, command: { status: "running" } });
    expect((waited.command as Cmd).state).toBeUndefined();
    await h.call("interrupt", { session_id: sid });
  });

  it("with output_offset returns only the new output", async () => {
    const run = (await h.call("execute_command", {
      session_id: sid,
      command: "echo first-part; read x; echo second-$x",
      timeout: 0.3,
    })) as unknown as Cmd;
    const seen = await pollUntil(async () => {
      const r = await h.call("get_command", { session_id: sid, command_id: run.command_id });
      return (r.command as Cmd).output === "first-part\n" ? r : undefined;
    });
    const offset = seen.output_total_chars as number;
    expect(offset).toBe("first-part\n".length);
    await h.call("send_text", { session_id: sid, text: "go" });
    const next = await h.call("get_command", {
      session_id: sid,
      command_id: run.command_id,
      wait: 600,
      output_offset: offset,
    });
    expect(next.command).toMatchObject({ status: "completed", exit_code: 0 });
    const output = (next.command as Cmd).output;
    expect(output).not.toContain("first-part");
    expect(output).toContain("second-go\n");
  });

  it("refuses an unknown command before waiting", async () => {
    const r = await h.call("get_command", { session_id: sid, command_id: "cmd-nope", wait: 600 });
    expect(r).toMatchObject({ ok: false, code: "UNKNOWN_COMMAND" });
  });

  it("is cancelled by the client, and the server keeps serving", async () => {
    const run = (await h.call("execute_command", {
      session_id: sid,
      command: "sleep 60",
      timeout: 0.3,
    })) as unknown as Cmd;
    const finished = (): number => serverLog().split('tool ok {"tool":"get_command"').length;
    const before = finished();
    const abort = new AbortController();
    const notes: Note[] = [];
    const waiting = h.client.callTool(
      { name: "get_command", arguments: { session_id: sid, command_id: run.command_id, wait: 600 } },
      undefined,
      { signal: abort.signal, onprogress: (p) => notes.push(p) },
    );
    // The server is waiting once it reports so.
    await pollUntil(() => notes.length > 0, { message: "no progress from the waiting get_command" });
    abort.abort("test cancels");
    await expect(waiting).rejects.toThrow();
    // The handler ended (logged "tool ok" for get_command), long before its 600 s.
    await pollUntil(() => finished() > before, { message: "the cancelled wait did not end" });
    const listed = await h.call("list_sessions");
    expect(listed.ok).toBe(true);
    const still = await h.call("get_command", { session_id: sid, command_id: run.command_id });
    expect(still.command).toMatchObject({ status: "running" });
    await h.call("interrupt", { session_id: sid });
  });
});

describe("get_screen wait_for", () => {
  it("waits until the text is on the screen (substring and regex)", async () => {
    await h.call("send_text", {
      session_id: sid,
      text: "sleep 1; echo screen-ready-$((40+2))",
      timeout: 0.2,
    });
    const { result, notes } = await callWithProgress("get_screen", {
      session_id: sid,
      wait_for: "screen-ready-42",
      timeout: 30,
    });
    expect(result).toMatchObject({ ok: true, matched: "screen-ready-42", timed_out: false });
    expect(result.screen).toContain("screen-ready-42");
    expectWellFormed(notes);
    const re = await h.call("get_screen", { session_id: sid, wait_for: "ready-(\\d+)$", regex: true });
    expect(re).toMatchObject({ ok: true, matched: "ready-42", timed_out: false });
  });

  it("says timed_out when the text never shows", async () => {
    const r = await h.call("get_screen", { session_id: sid, wait_for: "NOT-THERE-EVER", timeout: 0.5 });
    expect(r).toMatchObject({ ok: true, matched: null, timed_out: true });
    expect(typeof r.screen).toBe("string");
  });

  it("refuses a regex RE2 cannot run", async () => {
    const r = await h.call("get_screen", { session_id: sid, wait_for: "(?=x)", regex: true });
    expect(r).toMatchObject({ ok: false, code: "INVALID_ARGUMENT" });
  });

  it("without wait_for answers as before (no matched, no timed_out)", async () => {
    const r = await h.call("get_screen", { session_id: sid });
    expect(r.ok).toBe(true);
    expect("matched" in r).toBe(false);
    expect("timed_out" in r).toBe(false);
  });
});
