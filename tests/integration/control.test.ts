import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { tmuxEnv } from "../support/tmux.js";
import { BIN, startHarness, type Harness } from "../support/harness.js";

/**
 * The server's tmux control-mode client (src/tmux/control.ts): it carries the hot path from a
 * shared session that nobody sees as an SSH session or as a human attached; a killed server's
 * client goes, the session and every SSH session stay.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

const tmux = (...args: string[]): string =>
  execFileSync("tmux", ["-L", h.socket, ...args], { env: tmuxEnv(), encoding: "utf8" });
const sessions = (): string[] =>
  tmux("list-sessions", "-F", "#{session_name} #{session_attached}").trim().split("\n");

function serverPid(): number {
  const inst = join(h.runtimeDir, "instances");
  const latest = readdirSync(inst).sort().pop() as string;
  return (JSON.parse(readFileSync(join(inst, latest, "server_meta.json"), "utf8")) as { pid: number }).pid;
}

/** Command lines of the server's child processes. */
function children(pid: number): string[] {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return kids.map((k) => {
    try {
      return readFileSync(`/proc/${k}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      return "";
    }
  });
}

describe("tmux control-mode client", () => {
  it("carries the hot path from a shared session, invisible to sessions and humans", async () => {
    const open = await h.call("open_session", { profile: "test" });
    const sid = (open.session as { session_id: string }).session_id;
    for (const text of ["echo ctl-$((6*7))", "printf '%s\\n' 'q\"uo;te $HOME ~ é'"]) {
      const r = await h.call("execute_command", { session_id: sid, command: text });
      expect(r).toMatchObject({ ok: true, exit_code: 0 });
    }
    expect((await h.call("execute_command", { session_id: sid, command: "echo ctl-$((6*7))" })).output).toBe(
      "ctl-42\n",
    );
    const pid = serverPid();
    expect(children(pid).some((c) => c.includes(" -C ") && c.includes(h.socket))).toBe(true);
    const all = sessions();
    expect(all).toContain("ssh-mcp-ctl 1");
    // The SSH session has no attached client: the control client is attached to its own session.
    expect(all).toContain(`${sid} 0`);
    // No session is destroyed with a client (tmux 3.3a could crash doing so).
    expect(tmux("show-options", "-g", "destroy-unattached")).not.toContain("on");
    expect(tmux("show-options", "-t", "ssh-mcp-ctl", "destroy-unattached")).not.toContain("on");
    const info = (await h.call("list_sessions")).sessions as {
      session_id: string;
      attached_clients: number;
    }[];
    expect(info.map((s) => s.session_id)).toEqual([sid]);
    expect(info[0]?.attached_clients).toBe(0);
    expect(execFileSync(process.execPath, [BIN, "ls"], { env: h.env, encoding: "utf8" })).not.toContain(
      "ssh-mcp-ctl",
    );
  });

  it("goes with a killed server, leaving every session; the next server adopts and drives them", async () => {
    const sid = (await h.call("list_sessions")).sessions as { session_id: string }[];
    const before = sessions();
    expect(before).toContain("ssh-mcp-ctl 1");
    process.kill(serverPid(), "SIGKILL");
    // The client sees its stdin close and detaches; the shared session stays.
    await pollUntil(() => sessions().includes("ssh-mcp-ctl 0"), { message: "control client still attached" });
    for (const s of before) expect(sessions().map((l) => l.split(" ")[0])).toContain(s.split(" ")[0]);
    await h.restartClient();
    const list = (await h.call("list_sessions")).sessions as { session_id: string }[];
    expect(list.map((s) => s.session_id)).toEqual(sid.map((s) => s.session_id));
    const r = await h.call("execute_command", {
      session_id: list[0]?.session_id as string,
      command: "echo after",
    });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, output: "after\n" });
    expect(sessions()).toContain("ssh-mcp-ctl 1");
  });
});
