import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../fixtures/poll.js";
import { tmuxEnv } from "../fixtures/tmux.js";
import { BIN, startHarness, type Harness } from "../helpers/harness.js";

/**
 * The server's tmux control-mode client (src/tmux/control.ts): it carries the hot path, lives
 * in a session of its own that nobody sees as an SSH session or as a human attached, and goes
 * away with the server.
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
  it("carries the hot path from a session of its own, invisible to sessions and humans", async () => {
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
    expect(all.filter((l) => l.startsWith("ssh-mcp-ctl-"))).toHaveLength(1);
    // The SSH session has no attached client: the control client is attached to its own session.
    expect(all).toContain(`${sid} 0`);
    // Only the control session goes when its client does, never an SSH session (no client).
    expect(tmux("show-options", "-t", sid, "destroy-unattached")).not.toContain("on");
    const info = (await h.call("list_sessions")).sessions as {
      session_id: string;
      attached_clients: number;
    }[];
    expect(info.map((s) => s.session_id)).toEqual([sid]);
    expect(info[0]?.attached_clients).toBe(0);
    expect(execFileSync(process.execPath, [BIN, "ls"], { env: h.env, encoding: "utf8" })).not.toContain(
      "ssh-mcp-ctl-",
    );
  });

  it("goes away with the server, even a killed one; the next server adopts and drives the session", async () => {
    const name = (l: string): string => l.split(" ")[0] ?? "";
    const before = sessions()
      .map(name)
      .find((n) => n.startsWith("ssh-mcp-ctl-"));
    expect(before).toBeDefined();
    process.kill(serverPid(), "SIGKILL");
    await h.restartClient();
    await pollUntil(
      () =>
        !sessions()
          .map(name)
          .includes(before as string),
      {
        message: "old control session still there",
      },
    );
    const list = (await h.call("list_sessions")).sessions as { session_id: string }[];
    const sid = list[0]?.session_id as string;
    const r = await h.call("execute_command", { session_id: sid, command: "echo after" });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, output: "after\n" });
    expect(sessions().filter((l) => l.startsWith("ssh-mcp-ctl-"))).toHaveLength(1);
  });
});
