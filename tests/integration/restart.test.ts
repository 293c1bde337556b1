import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { BIN, connectClient, startHarness, type Harness } from "../support/harness.js";

/** Sessions survive server restarts (clean and SIGKILL), other servers, locks, reopen. */

let h: Harness;

interface Info {
  session_id: string;
  status: string;
  server_instance_id: string;
  owned_by_this_server: boolean;
  previous_session_id: string | null;
  health_error: string | null;
}

function latestServerPid(): number {
  const dir = join(h.runtimeDir, "instances");
  const metas = readdirSync(dir)
    .map(
      (d) =>
        JSON.parse(readFileSync(join(dir, d, "server_meta.json"), "utf8")) as {
          pid: number;
          started_at: string;
        },
    )
    .sort((a, b) => a.started_at.localeCompare(b.started_at));
  return metas[metas.length - 1]?.pid as number;
}

async function callOn(client: Client, tool: string, args: Record<string, unknown> = {}) {
  const res = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
  return res.structuredContent as Record<string, unknown> & { ok: boolean };
}

/** What the tap recorded, as one byte stream: a line can be split across two recv events. */
function received(transcript: string): string {
  return readFileSync(transcript, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { dir: string; text?: string })
    .filter((e) => e.dir === "recv")
    .map((e) => e.text ?? "")
    .join("");
}

async function listed(id: string): Promise<Info | undefined> {
  const list = await h.call("list_sessions");
  return (list.sessions as Info[]).find((s) => s.session_id === id);
}

function waitGone(pid: number): Promise<true> {
  return pollUntil(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
}

async function stopServerCleanly(): Promise<void> {
  const pid = latestServerPid();
  await h.client.close();
  await waitGone(pid);
}

async function killServerHard(): Promise<void> {
  const pid = latestServerPid();
  process.kill(pid, "SIGKILL");
  await pollUntil(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  await h.client.close().catch(() => undefined);
}

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

describe("restarts", () => {
  for (const how of ["clean shutdown", "SIGKILL"] as const) {
    it(`${how}: the same session, shell state, ledger and the output produced while no server ran`, async () => {
      const open = await h.call("open_session", { profile: "test", owner_label: `restart-${how}` });
      const sid = (open.session as Info).session_id;
      const before = (open.session as Info).server_instance_id;
      await h.call("execute_command", { session_id: sid, command: "cd /tmp && export KEPT_VAR=still-here" });
      // The command waits for a file the test creates once no server runs.
      const gate = join(h.dir, `gate-${how === "SIGKILL" ? "kill" : "clean"}`);
      const slow = await h.call("execute_command", {
        session_id: sid,
        command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo produced-while-down`,
        timeout: 0.3,
      });
      expect(slow.status).toBe("running");
      if (how === "SIGKILL") await killServerHard();
      else await stopServerCleanly();
      writeFileSync(gate, "");
      const transcript = (open.session as { transcript_path: string }).transcript_path;
      // The tap keeps recording with no server at all: the output line itself (not the echo of
      // the command, which also says produced-while-down) lands in the transcript.
      await pollUntil(() => /[\n\x07]produced-while-down\r\n/.test(received(transcript)), {
        timeoutMs: 15_000,
      });
      h.client = await connectClient(h.env);
      const info = await listed(sid);
      expect(info).toMatchObject({ status: "open", owned_by_this_server: true });
      expect(info?.server_instance_id).not.toBe(before);
      const done = await pollUntil(async () => {
        const g = await h.call("get_command", { session_id: sid, command_id: slow.command_id as string });
        return (g.command as { status: string }).status === "completed" ? g.command : undefined;
      });
      expect(done).toMatchObject({ exit_code: 0, output: "produced-while-down\n", timed_out: true });
      expect(
        (await h.call("execute_command", { session_id: sid, command: "pwd; echo $KEPT_VAR" })).output,
      ).toBe("/tmp\nstill-here\n");
      const events = readFileSync(transcript, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const adopted = events.find((e) => e.event === "adopted");
      expect(adopted).toMatchObject({
        previous_server_instance_id: before,
        server_instance_id: info?.server_instance_id,
      });
      expect(events[0]?.dir).toBe("session_meta");
    });
  }

  it("a command that finishes after the restart completes and is recorded", async () => {
    const sid = ((await h.call("open_session", { profile: "test" })).session as Info).session_id;
    const gate = join(h.dir, "gate-after");
    const slow = await h.call("execute_command", {
      session_id: sid,
      command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo after-restart`,
      timeout: 0.2,
    });
    await killServerHard();
    h.client = await connectClient(h.env);
    await h.call("list_sessions");
    writeFileSync(gate, "");
    const done = await pollUntil(
      async () => {
        const g = await h.call("get_command", { session_id: sid, command_id: slow.command_id as string });
        return (g.command as { status: string }).status === "completed" ? g.command : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(done).toMatchObject({ exit_code: 0, output: "after-restart\n" });
  });
});

describe("the ledger after a restart", () => {
  it("keeps every finished command's exact output, and completes one that ran across the restart", async () => {
    const sid = ((await h.call("open_session", { profile: "test" })).session as Info).session_id;
    const ids: string[] = [];
    const run = async (args: Record<string, unknown>): Promise<void> => {
      const r = await h.call("execute_command", { session_id: sid, ...args });
      expect(r.status, JSON.stringify(r).slice(0, 300)).toBe("completed");
      ids.push(r.command_id as string);
    };
    await run({ command: "seq 1 3000" });
    await run({ command: "printf 'a\\nb'" });
    await run({ command: "sh -c 'echo to-stderr >&2; exit 3'" });
    await run({ command: "echo raw-mode-before", wait_for_prompt: false });
    await run({ command: "printf '\\033[1;32mgreen\\033[0m é\\n'" });
    // More output than a replay feeds through the live path (512 kB): the outputs above are read
    // back from the transcript on demand, and the command below starts past that point.
    await run({ command: "seq 1 150000" });
    const gate = join(h.dir, "gate-ledger");
    const slow = await h.call("execute_command", {
      session_id: sid,
      command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; seq 5 7`,
      timeout: 0.2,
    });
    expect(slow.status).toBe("running");
    const get = async (id: string): Promise<Record<string, unknown>> =>
      (await h.call("get_command", { session_id: sid, command_id: id })).command as Record<string, unknown>;
    const before = await Promise.all(ids.map(get));
    expect(before[0]?.output).toBe(Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join(""));
    expect(before[1]?.output).toBe("a\nb");
    expect(before[2]).toMatchObject({ exit_code: 3, output: "to-stderr\n" });
    expect(before[4]?.output).toBe("green é\n");
    await killServerHard();
    writeFileSync(gate, "");
    h.client = await connectClient(h.env);
    const after = await Promise.all(ids.map(get));
    for (const [i, b] of before.entries()) {
      const { output, ...rest } = b;
      expect(after[i], `command ${i}`).toMatchObject(rest);
      expect(after[i]?.output, `output of command ${i}`).toBe(output);
    }
    const done = await pollUntil(
      async () => {
        const g = await get(slow.command_id as string);
        return g.status === "completed" ? g : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(done).toMatchObject({ exit_code: 0, output: "5\n6\n7\n" });
    expect((await h.call("execute_command", { session_id: sid, command: "echo next" })).output).toBe(
      "next\n",
    );
  });
});

describe("two servers starting at once after a crash", () => {
  it("adopt each orphan exactly once", async () => {
    const sid = (await h.call("open_session", { profile: "test" })).session as Info & {
      transcript_path: string;
    };
    const gate = join(h.dir, "gate-race");
    const cmd = await h.call("execute_command", {
      session_id: sid.session_id,
      command: `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo raced`,
      timeout: 0.2,
    });
    await killServerHard();
    writeFileSync(gate, "");
    await pollUntil(() => /[\n\x07]raced\r\n/.test(received(sid.transcript_path)));
    const [a, b] = await Promise.all([connectClient(h.env), connectClient(h.env)]);
    try {
      const [la, lb] = await Promise.all([callOn(a, "list_sessions"), callOn(b, "list_sessions")]);
      const mine = (l: Record<string, unknown>) =>
        (l.sessions as Info[]).find((s) => s.session_id === sid.session_id)?.owned_by_this_server;
      expect([mine(la), mine(lb)].filter(Boolean)).toHaveLength(1);
      const events = readFileSync(sid.transcript_path, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { event?: string; dir: string; command_id?: string });
      expect(events.filter((e) => e.event === "adopted")).toHaveLength(1);
      expect(
        events.filter((e) => e.dir === "command_complete" && e.command_id === cmd.command_id),
      ).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
    }
    h.client = await connectClient(h.env);
  });
});

describe("two live servers on one socket", () => {
  it("each sees the other's sessions; neither drives them without force", async () => {
    const mine = (
      (await h.call("open_session", { profile: "test", owner_label: "server-a" })).session as Info
    ).session_id;
    const other = await connectClient(h.env);
    try {
      const list = await callOn(other, "list_sessions");
      const seen = (list.sessions as Info[]).find((s) => s.session_id === mine);
      expect(seen).toMatchObject({ owned_by_this_server: false, status: "open" });
      const refused = await callOn(other, "execute_command", { session_id: mine, command: "echo nope" });
      expect(refused).toMatchObject({ ok: false, code: "SESSION_OWNED_ELSEWHERE" });
      // Reading is not driving: the other server may look at the screen and the transcript.
      expect(await callOn(other, "get_screen", { session_id: mine })).toMatchObject({ ok: true });
      const peek = await callOn(other, "get_transcript", { session_id: mine, tail: 5 });
      expect(peek.ok).toBe(true);
      expect((peek.events as unknown[]).length).toBeGreaterThan(0);
      const forced = await callOn(other, "execute_command", {
        session_id: mine,
        command: "echo taken",
        force: true,
      });
      expect(forced).toMatchObject({ ok: true, output: "taken\n" });
      // The first server now sees it was taken over and refuses, unless it forces it back.
      const a = await h.call("execute_command", { session_id: mine, command: "echo mine?" });
      expect(a).toMatchObject({ ok: false, code: "SESSION_OWNED_ELSEWHERE" });
      const t = await callOn(other, "get_transcript", { session_id: mine, tail: 50 });
      expect(
        (t.events as { event?: string; forced?: boolean }[]).some((e) => e.event === "adopted" && e.forced),
      ).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe("input locks", () => {
  /**
   * The human's lock, taken the only way a human can: in the viewer, with the operator's token
   * (from the instance's files, as `ssh-mcp ls` shows it), or with `token` given.
   */
  async function viewerLock(
    session: { viewer_url: string; server_instance_id: string },
    action: "acquire" | "release",
    token?: string,
  ) {
    const u = new URL(session.viewer_url);
    const operator = readFileSync(
      join(h.runtimeDir, "instances", session.server_instance_id, "viewer_operator_token"),
      "utf8",
    ).trim();
    const res = await fetch(`${u.origin}/api/sessions${u.pathname.replace(/^\/sessions/, "")}/lock`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-ssh-mcp-token": token ?? operator },
      body: JSON.stringify({ action, ttl: 60 }),
    });
    return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
  }

  it("refuse other actors, expire, and can be forced; every change is recorded", async () => {
    const open = (await h.call("open_session", { profile: "test" })).session as Info & { viewer_url: string };
    const sid = open.session_id;
    // The URL the agent is given reads, but cannot lock or type as the human.
    const readToken = new URL(open.viewer_url).searchParams.get("token") ?? "";
    expect(await viewerLock(open, "acquire", readToken)).toMatchObject({
      status: 403,
      code: "OPERATOR_ONLY",
    });
    expect(await viewerLock(open, "acquire")).toMatchObject({
      ok: true,
      lock: { actor: "human" },
    });
    expect(await h.call("input_lock_status", { session_id: sid })).toMatchObject({
      lock: { actor: "human" },
    });
    // Over MCP the caller is the agent: it cannot claim to be the human, nor free the human's lock.
    expect(await h.call("acquire_input_lock", { session_id: sid, actor: "human", ttl: 60 })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    expect(await h.call("release_input_lock", { session_id: sid, actor: "human" })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    expect(await h.call("release_input_lock", { session_id: sid })).toMatchObject({ ok: false });
    expect(await h.call("execute_command", { session_id: sid, command: "true" })).toMatchObject({
      ok: false,
      code: "INPUT_LOCKED",
    });
    expect(await h.call("acquire_input_lock", { session_id: sid, actor: "agent" })).toMatchObject({
      ok: false,
      code: "INPUT_LOCKED",
    });
    const forced = await h.call("acquire_input_lock", {
      session_id: sid,
      actor: "agent",
      ttl: 0.5,
      force: true,
    });
    expect(forced).toMatchObject({ ok: true, lock: { actor: "agent" } });
    expect((await h.call("execute_command", { session_id: sid, command: "echo agent-holds" })).output).toBe(
      "agent-holds\n",
    );
    // After the TTL the lock is gone.
    await pollUntil(async () =>
      (await h.call("input_lock_status", { session_id: sid })).lock === null ? true : undefined,
    );
    await h.call("acquire_input_lock", { session_id: sid, ttl: 60 });
    expect(await h.call("release_input_lock", { session_id: sid })).toMatchObject({ released: true });
    expect((await h.call("execute_command", { session_id: sid, command: "echo free" })).output).toBe(
      "free\n",
    );
    const t = await h.call("get_transcript", { session_id: sid, tail: 200 });
    const locks = (t.events as { dir: string; action?: string; forced?: boolean; actor?: string }[]).filter(
      (e) => e.dir === "lock",
    );
    expect(locks.map((e) => [e.action, e.actor])).toEqual([
      ["acquire", "human"],
      ["acquire", "agent"],
      ["acquire", "agent"],
      ["release", "agent"],
    ]);
    expect(locks[1]?.forced).toBe(true);
  });
});

describe("reopen and the human's CLI", () => {
  it("a human attached through tmux shows in attached_clients", async () => {
    const sid = ((await h.call("open_session", { profile: "test" })).session as Info).session_id;
    const env = { ...h.env, TERM: "xterm-256color" } as Record<string, string>;
    delete env.TMUX;
    const human = pty.spawn("tmux", ["-L", h.socket, "attach", "-t", sid], { cols: 120, rows: 40, env });
    try {
      const seen = await pollUntil(async () => {
        const i = (await listed(sid)) as (Info & { attached_clients: number }) | undefined;
        return i && i.attached_clients > 0 ? i : undefined;
      });
      expect(seen.attached_clients).toBe(1);
    } finally {
      human.kill();
    }
    await pollUntil(async () =>
      ((await listed(sid)) as Info & { attached_clients: number }).attached_clients === 0 ? true : undefined,
    );
  });

  it("reopen_session logs in again, linked to the old session", async () => {
    const sid = (
      (await h.call("open_session", { profile: "test", owner_label: "reopen-me" })).session as Info
    ).session_id;
    await h.call("send_text", { session_id: sid, text: "exit", timeout: 1 });
    await pollUntil(async () => ((await listed(sid))?.status === "closed" ? true : undefined));
    const r = await h.call("reopen_session", { session_id: sid });
    expect(r).toMatchObject({ ok: true, previous_session_id: sid });
    const next = r.session as Info & { owner_label: string };
    expect(next).toMatchObject({ status: "open", previous_session_id: sid, owner_label: "reopen-me" });
    expect(
      (await h.call("execute_command", { session_id: next.session_id, command: "echo again" })).output,
    ).toBe("again\n");
  });

  it("ssh-mcp close ends a session and records it", async () => {
    const open = await h.call("open_session", { profile: "test" });
    const s = open.session as Info & { transcript_path: string };
    const out = execFileSync(process.execPath, [BIN, "close", s.session_id], {
      env: h.env,
      encoding: "utf8",
    });
    expect(out).toContain(`Closed ${s.session_id}`);
    expect(readFileSync(s.transcript_path, "utf8")).toContain("closed by ssh-mcp close");
    await pollUntil(async () => ((await listed(s.session_id))?.status === "closed" ? true : undefined));
  });
});
