import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tmuxEnv } from "../support/tmux.js";
import { startHarness, type Cmd, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

let h: Harness;
let sid: string;

const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
  (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

beforeAll(async () => {
  h = await startHarness();
  const open = await h.call("open_session", { profile: "test", owner_label: "execute-tests" });
  expect(open.ok).toBe(true);
  sid = (open.session as { session_id: string }).session_id;
});

afterAll(async () => {
  await h?.close();
});

describe("execute_command", () => {
  it("returns the command's own output and exit code", async () => {
    const r = await exec("echo hello");
    expect(r).toMatchObject({
      ok: true,
      status: "completed",
      exit_code: 0,
      output: "hello\n",
      completion: "marker",
    });
    expect((await exec("false")).exit_code).toBe(1);
    expect((await exec("sh -c 'exit 2'")).exit_code).toBe(2);
    expect((await exec("nosuchcommand-xyz")).exit_code).toBe(127);
  });

  it("keeps shell state between commands", async () => {
    await exec("cd /tmp && export SSH_MCP_T=kept");
    expect((await exec("pwd")).output).toBe("/tmp\n");
    expect((await exec('echo "$SSH_MCP_T"')).output).toBe("kept\n");
  });

  it("returns output without echo, markers, prompt or ANSI", async () => {
    const r = await exec("printf '\\033[1;31mred\\033[0m plain\\n'; ls --color=always / >/dev/null");
    expect(r.output).toBe("red plain\n");
    expect(r.output).not.toMatch(/__SSHMCP|\x1b|printf/);
    expect((await exec("printf abc")).output).toBe("abc");
    expect((await exec("true")).output).toBe("");
  });

  it("keeps UTF-8 intact", async () => {
    const r = await exec("for i in $(seq 1 300); do printf '中文测试日志%03d ✓\\n' $i; done");
    const lines = r.output.trimEnd().split("\n");
    expect(lines).toHaveLength(300);
    expect(lines[299]).toBe("中文测试日志300 ✓");
    expect(r.output).not.toContain("\ufffd");
  });

  it("clears a half-typed line first, so it cannot swallow the command", async () => {
    // Text typed without Enter (by the agent or a human in tmux) stays on the shell's line; the
    // next command must not be appended to it, not even a long one.
    for (const junk of ["echo junk-prefix ", "x".repeat(5000)]) {
      await h.call("send_text", { session_id: sid, text: junk, enter: false, timeout: 0.2 });
      expect(await exec("echo clean")).toMatchObject({
        ok: true,
        status: "completed",
        exit_code: 0,
        output: "clean\n",
        completion: "marker",
      });
    }
  });

  it("types a NUL in send_text as the byte itself (C-@)", async () => {
    const started = await exec("head -n 1 | od -An -tx1", { timeout: 0.5 });
    expect(started).toMatchObject({ ok: true, status: "running" });
    expect((await h.call("send_text", { session_id: sid, text: "a\u0000b" })).ok).toBe(true);
    const done = await pollUntil(async () => {
      const r = await h.call("get_command", { session_id: sid, command_id: started.command_id });
      const c = r.command as Cmd;
      return c.status === "completed" ? c : undefined;
    });
    // The tty echoes what was typed (a^@b), then od shows the bytes head read.
    expect(done.output).toMatch(/ 61 00 62 0a\n$/);
  });

  it("handles multi-line commands, heredocs, comments and background jobs", async () => {
    expect((await exec("echo one\necho two")).output).toBe("one\ntwo\n");
    expect((await exec("cat <<'EOF'\nline a\nline b\nEOF")).output).toBe("line a\nline b\n");
    expect((await exec("echo visible # a trailing comment")).output).toBe("visible\n");
    const bg = await exec("sleep 0.1 &");
    expect(bg.status).toBe("completed");
    expect((await exec("wait; echo after-wait")).output).toContain("after-wait");
  });

  it("returns 1000 lines exactly", async () => {
    const r = await exec("seq 1 1000");
    expect(r.output).toBe(Array.from({ length: 1000 }, (_, i) => String(i + 1)).join("\n") + "\n");
  });

  it("caps 300000 lines in the result and pages the whole output via get_command", async () => {
    const r = await exec("seq 1 300000", { timeout: 120 });
    expect(r.status).toBe("completed");
    expect(r.output_truncated).toBe(true);
    expect(r.output.startsWith("1\n2\n3\n")).toBe(true);
    expect(r.output.endsWith("299999\n300000\n")).toBe(true);
    const full = await h.call("get_command", { session_id: sid, command_id: r.command_id });
    const cmd = full.command as Cmd;
    const expected = Array.from({ length: 300000 }, (_, i) => String(i + 1)).join("\n") + "\n";
    expect(full.output_total_chars).toBe(expected.length);
    expect(cmd.output).toBe(expected);
    expect(full.next_offset).toBeNull();
    const last = await h.call("get_command", { session_id: sid, command_id: r.command_id, output_limit: 7 });
    expect((last.command as Cmd).output).toBe("300000\n");
    const none = await h.call("get_command", { session_id: sid, command_id: r.command_id, output_limit: 0 });
    expect((none.command as Cmd).output).toBe("");
    const page = await h.call("get_command", {
      session_id: sid,
      command_id: r.command_id,
      output_offset: 10,
    });
    expect((page.command as Cmd).output).toBe(expected.slice(10));
  });

  it("keeps tracking a command past its timeout and completes it later", async () => {
    const r = await exec("sleep 1.5; echo late-output", { timeout: 0.3 });
    expect(r).toMatchObject({ status: "running", timed_out: true, completion: "timeout", exit_code: null });
    const busy = await exec("echo should-not-run");
    expect(busy).toMatchObject({ ok: false, code: "COMMAND_RUNNING" });
    const done = await pollUntil(
      async () => {
        const g = await h.call("get_command", { session_id: sid, command_id: r.command_id });
        const c = g.command as Cmd;
        return c.status === "completed" ? c : undefined;
      },
      { timeoutMs: 15_000, message: "command never completed" },
    );
    expect(done).toMatchObject({ exit_code: 0, output: "late-output\n", completion: "marker" });
    const list = await h.call("list_commands", { session_id: sid });
    const entry = (list.commands as Cmd[]).find((c) => c.command_id === r.command_id);
    expect(entry).toMatchObject({ status: "completed", output: "" });
  });

  it("interrupt stops a long command and leaves the session usable", async () => {
    const r = await exec("sleep 30", { timeout: 1 });
    expect(r).toMatchObject({ status: "running", timed_out: true });
    const intr = await h.call("interrupt", { session_id: sid });
    expect(intr).toMatchObject({ ok: true, sent: ["C-c"] });
    const g = await h.call("get_command", { session_id: sid, command_id: r.command_id });
    expect((g.command as Cmd).status).toBe("cancelled");
    const next = await exec("echo alive");
    expect(next).toMatchObject({ status: "completed", exit_code: 0, output: "alive\n" });
  });

  it("cancel_command stops a tracked command and leaves the session usable", async () => {
    const r = await exec("sleep 30", { timeout: 0.5 });
    const c = await h.call("cancel_command", { session_id: sid, command_id: r.command_id });
    expect((c.command as Cmd).status).toBe("cancelled");
    expect((await exec("echo still-alive")).output).toBe("still-alive\n");
    const again = await h.call("cancel_command", { session_id: sid, command_id: r.command_id });
    expect((again.command as Cmd).status).toBe("cancelled");
  });

  it("wait_for_prompt=false sends the line as is and completes on a quiet period", async () => {
    const r = await exec("echo raw-mode", { wait_for_prompt: false, timeout: 10 });
    expect(r).toMatchObject({ status: "completed", completion: "idle", exit_code: null });
    expect(r.output).toContain("raw-mode");
    expect(r.output).not.toContain("echo raw-mode");
  });

  it("types exactly what it was given, tmux's own syntax included", async () => {
    // One tmux process checks the window and types (if-shell): the text goes through tmux's
    // command parser, where #{}, ;, quotes, $ and ~ mean something.
    const weird = `#{pane_id} ## ; \\; "dq" $HOME ~ \\ é #[fg=red] %1`;
    const r = await exec(`printf '%s\\n' '${weird}'`);
    expect(r).toMatchObject({ ok: true, exit_code: 0, output: `${weird}\n` });
  });

  it("sees a lock set behind its back (straight in tmux) before it types anything", async () => {
    expect((await exec("echo before-lock")).output).toBe("before-lock\n");
    const tmux = (...args: string[]): string =>
      execFileSync("tmux", ["-L", h.socket, ...args], { env: tmuxEnv(), encoding: "utf8" });
    const pane = tmux("display-message", "-p", "-t", sid, "#{pane_id}").trim();
    const now = Date.now();
    const lock = {
      actor: "human",
      acquired_at: new Date(now).toISOString(),
      expires_at: new Date(now + 120_000).toISOString(),
    };
    tmux("set-option", "-w", "-t", pane, "@ssh_mcp_lock", JSON.stringify(lock));
    try {
      expect(await exec("echo typed-while-locked-1")).toMatchObject({ ok: false, code: "INPUT_LOCKED" });
      expect(await h.call("send_text", { session_id: sid, text: "echo typed-while-locked-2" })).toMatchObject(
        { ok: false, code: "INPUT_LOCKED" },
      );
      expect(tmux("capture-pane", "-p", "-t", pane)).not.toContain("typed-while-locked");
    } finally {
      tmux("set-option", "-w", "-u", "-t", pane, "@ssh_mcp_lock");
    }
    expect((await exec("echo after-lock")).output).toBe("after-lock\n");
    const t = await h.call("get_transcript", { session_id: sid, tail: 40 });
    const events = t.events as { dir: string; event?: string; text?: string }[];
    // The attempt that met the lock inside tmux is recorded as not sent.
    expect(events.filter((e) => e.event === "not_sent").length).toBeGreaterThanOrEqual(1);
    expect(events.some((e) => e.dir === "recv" && e.text?.includes("typed-while-locked"))).toBe(false);
  });
});
