import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, startHarness, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

interface Info {
  session_id: string;
  status: string;
  health_error: string | null;
  attach_command: string;
  tmux_target: string;
  owner_label: string | null;
  client_label: string;
  transcript_path: string;
}

async function openOne(owner?: string): Promise<Info> {
  const r = await h.call("open_session", { profile: "test", ...(owner ? { owner_label: owner } : {}) });
  expect(r.ok).toBe(true);
  return r.session as Info;
}

async function statusOf(id: string): Promise<Info | undefined> {
  const list = await h.call("list_sessions");
  return (list.sessions as Info[]).find((s) => s.session_id === id);
}

describe("sessions live in tmux", () => {
  it("open_session returns a session a human can attach to", async () => {
    const s = await openOne("lifecycle");
    expect(s).toMatchObject({ status: "open", owner_label: "lifecycle", client_label: "vitest" });
    expect(s.attach_command).toBe(`tmux -L ${h.socket} attach -t ${s.session_id}`);
    // The window carries its metadata, so a later server can find it.
    const id = execFileSync(
      "tmux",
      ["-L", h.socket, "show-options", "-wv", "-t", `=${s.session_id}:`, "@ssh_mcp_session_id"],
      {
        encoding: "utf8",
      },
    ).trim();
    expect(id).toBe(s.session_id);
    // What the agent types is on the pane a human sees.
    await h.call("execute_command", { session_id: s.session_id, command: "echo seen-by-human" });
    const pane = execFileSync("tmux", ["-L", h.socket, "capture-pane", "-p", "-t", `=${s.session_id}:`], {
      encoding: "utf8",
    });
    expect(pane).toContain("seen-by-human");
    const list = await h.call("list_sessions");
    expect(list.server).toMatchObject({ tmux_socket: h.socket, client_label: "vitest" });
    expect(list.viewer_base_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
    expect((list.sessions as Info[] & { viewer_url: string }[])[0]).toHaveProperty("viewer_url");
    // The human's view of the same thing.
    const ls = execFileSync(process.execPath, [BIN, "ls"], { env: h.env, encoding: "utf8" });
    expect(ls).toContain(s.session_id);
    expect(ls).toContain(s.attach_command);
    expect(ls).toContain("owner=lifecycle");
    // The human gets the operator's viewer URL; the agent's viewer_url carries another token.
    const operatorUrl = new RegExp(
      `http://127\\.0\\.0\\.1:\\d+/sessions/${s.session_id}\\?token=([\\w-]{20,})`,
    ).exec(ls);
    expect(operatorUrl).not.toBeNull();
    expect((s as { viewer_url?: string }).viewer_url ?? "").not.toContain(operatorUrl?.[1] ?? "-");
  });

  it("close_session ends the window; input tools then say what to do", async () => {
    const s = await openOne();
    const closed = await h.call("close_session", { session_id: s.session_id });
    expect((closed.session as Info).status).toBe("closed");
    const r = await h.call("execute_command", { session_id: s.session_id, command: "true" });
    expect(r).toMatchObject({ ok: false, code: "SESSION_CLOSED" });
    expect(r.error).toMatch(/open_session/);
    const again = await h.call("close_session", { session_id: s.session_id });
    expect(again.ok).toBe(true);
    const t = await h.call("get_transcript", { session_id: s.session_id, tail: 5 });
    expect(JSON.stringify(t.events)).toContain('"event":"closed"');
  });

  it("a shell that exits marks the session closed with the exit status", async () => {
    const s = await openOne();
    await h.call("send_text", { session_id: s.session_id, text: "exit 3", timeout: 1 });
    const info = await pollUntil(async () => {
      const i = await statusOf(s.session_id);
      return i?.status === "closed" ? i : undefined;
    });
    expect(info.health_error).toMatch(/status 3/);
    const r = await h.call("send_text", { session_id: s.session_id, text: "echo hi" });
    expect(r).toMatchObject({ ok: false, code: "SESSION_CLOSED" });
  });

  it("killing the ssh process marks the session closed and a running command session_closed", async () => {
    const s = await openOne();
    const running = await h.call("execute_command", {
      session_id: s.session_id,
      command: "sleep 60",
      timeout: 0.3,
    });
    expect(running.status).toBe("running");
    const panePid = execFileSync(
      "tmux",
      ["-L", h.socket, "display-message", "-p", "-t", `=${s.session_id}:`, "#{pane_pid}"],
      { encoding: "utf8" },
    ).trim();
    // The pane runs `sh` (which reports the exit status) with ssh as its only child.
    const sshPid = readFileSync(`/proc/${panePid}/task/${panePid}/children`, "utf8").trim().split(/\s+/)[0];
    expect(readFileSync(`/proc/${sshPid}/cmdline`, "utf8").split("\0")[0]).toBe("ssh");
    process.kill(Number(sshPid), "SIGKILL");
    const info = await pollUntil(async () => {
      const i = await statusOf(s.session_id);
      return i?.status === "closed" ? i : undefined;
    });
    expect(info.health_error).toMatch(/status 137/);
    const g = await h.call("get_command", {
      session_id: s.session_id,
      command_id: running.command_id as string,
    });
    expect((g.command as { status: string }).status).toBe("session_closed");
    const scr = await h.call("get_screen", { session_id: s.session_id });
    expect(scr.ok).toBe(true);
  });

  it("losing the SSH transport marks the session unhealthy, not closed", async () => {
    const s = await openOne();
    // Kill the server side of this connection: sshd's per-connection processes.
    const listener = String(h.sshd.pid);
    const children = (pid: string): string[] => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
      } catch {
        return [];
      }
    };
    const perConnection = children(listener);
    expect(perConnection.length).toBeGreaterThan(0);
    for (const pid of perConnection) process.kill(Number(pid), "SIGKILL");
    const info = await pollUntil(async () => {
      const i = await statusOf(s.session_id);
      return i && i.status !== "open" ? i : undefined;
    });
    expect(info.status).toBe("unhealthy");
    expect(info.health_error).toMatch(/status 255/);
    const r = await h.call("execute_command", { session_id: s.session_id, command: "true" });
    expect(r).toMatchObject({ ok: false, code: "SESSION_UNHEALTHY" });
  });

  it("closing sessions releases the server's descriptors", async () => {
    const metaDir = join(h.runtimeDir, "instances");
    const inst = readdirSync(metaDir).sort().pop() as string;
    const pid = JSON.parse(readFileSync(join(metaDir, inst, "server_meta.json"), "utf8")).pid as number;
    const fds = (): number => readdirSync(`/proc/${pid}/fd`).length;
    // One warm-up cycle (the askpass and logger paths open lazily), then measure.
    const warm = await openOne();
    await h.call("close_session", { session_id: warm.session_id });
    const before = fds();
    for (let i = 0; i < 3; i++) {
      const s = await openOne();
      await h.call("execute_command", { session_id: s.session_id, command: "true" });
      await h.call("close_session", { session_id: s.session_id });
    }
    // Descriptors of a closed session (watchers, child pipes) close asynchronously: a leak never
    // comes back down, a late close does.
    await pollUntil(() => fds() <= before + 1 || undefined, { timeoutMs: 10_000 }).catch(() => undefined);
    expect(fds()).toBeLessThanOrEqual(before + 1);
  });
});
