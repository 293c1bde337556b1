import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import type { Cmd } from "../support/harness.js";
import { startLabHarness, type LabHarness } from "../support/lab-harness.js";

/** The lab misbehaving on request, and how ssh-mcp copes with each. */

let h: LabHarness;

async function open(profile: string): Promise<string> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return (r.session as { session_id: string }).session_id;
}

const exec = async (sid: string, command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
  (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

beforeAll(async () => {
  // Profiles for the lab's misbehaving users, next to the built-in ones.
  const dir = await import("node:fs/promises").then((fs) =>
    fs.mkdtemp(join((process.env.TMPDIR ?? "/tmp") + "/", "ssh-mcp-labcfg-")),
  );
  const cfg = join(dir, "profiles.json");
  h = await startLabHarness({ SSH_MCP_CONFIG: cfg });
  const labDir = join(h.runtimeDir, "lab");
  const common = {
    host: "127.0.0.1",
    port: h.port,
    key_filename: join(labDir, "client_ed25519"),
    known_hosts_file: join(labDir, "known_hosts"),
    allow_agent: false,
    look_for_keys: false,
    prompt_regex: "(Target IP:|User number:|Password:|[#$%>])\\s*$",
  };
  const toMaster = [
    { expect: "Target IP:", send: "10.0.0.11" },
    { expect: "User number:", send: "1" },
  ];
  writeFileSync(
    cfg,
    JSON.stringify({
      profiles: {
        "lab-cr": { ...common, username: "ops-cr", enter_sequence: "cr" },
        "lab-cr-with-lf": { ...common, username: "ops-cr" },
        "lab-ansi": { ...common, username: "ops-ansi", route: toMaster },
      },
    }),
  );
  // Restart so the server reads the file; the first open of a built-in profile starts the lab.
  await h.client.close();
  const { connectClient } = await import("../support/harness.js");
  h.client = await connectClient(h.env);
  await open("lab");
});

afterAll(async () => {
  await h?.close();
});

describe("lab misbehaviour", () => {
  it("a pager: the screen reports the alternate screen, q returns and the command completes", async () => {
    const sid = await open("lab-master");
    const r = await exec(sid, "kubectl describe pod redis-0 -n payment", { timeout: 1 });
    expect(r).toMatchObject({ status: "running" });
    const screen = await pollUntil(async () => {
      const s = await h.call("get_screen", { session_id: sid });
      return s.alternate_screen ? s : undefined;
    });
    expect(screen.screen).toMatch(/Name:\s+redis-0/);
    // Ctrl+C does not stop a pager: the command stays tracked instead of typing into it.
    await h.call("interrupt", { session_id: sid });
    const still = await h.call("get_command", { session_id: sid, command_id: r.command_id });
    expect((still.command as Cmd).status).toBe("running");
    await h.call("send_keys", { session_id: sid, keys: ["q"] });
    const done = await pollUntil(async () => {
      const g = await h.call("get_command", { session_id: sid, command_id: r.command_id });
      return (g.command as Cmd).status === "completed" ? (g.command as Cmd) : undefined;
    });
    expect(done).toMatchObject({ exit_code: 0, completion: "marker" });
    expect((await h.call("get_screen", { session_id: sid })).alternate_screen).toBe(false);
    expect(await exec(sid, "echo after-pager")).toMatchObject({ output: "after-pager\n" });
  });

  it("slow dribbled output: pauses longer than the idle period do not complete the command early", async () => {
    const sid = await open("lab-master");
    const r = await exec(sid, "lab-slow 4 0.7 3", { timeout: 20 });
    expect(r).toMatchObject({ status: "completed", completion: "marker", exit_code: 3 });
    expect(r.output).toBe("slow line 1 of 4\nslow line 2 of 4\nslow line 3 of 4\nslow line 4 of 4\n");
  });

  it("a menu that needs CR-only Enter: LF does nothing, enter_sequence cr works", async () => {
    const lf = await open("lab-cr-with-lf");
    const stuck = await h.call("send_text", {
      session_id: lf,
      text: "10.0.0.11",
      wait_for: "User number:",
      timeout: 1,
    });
    expect(stuck).toMatchObject({ ok: true, timed_out: true, matched: null });
    await h.call("close_session", { session_id: lf });
    const cr = await open("lab-cr");
    const ok = await h.call("send_text", {
      session_id: cr,
      text: "10.0.0.11",
      wait_for: "User number:",
      timeout: 10,
    });
    expect(ok).toMatchObject({ timed_out: false });
    await h.call("send_text", { session_id: cr, text: "2", wait_for: "\\]# ?$", regex: true, timeout: 10 });
    expect(await exec(cr, "echo 'cr works'; false")).toMatchObject({ output: "cr works\n", exit_code: 1 });
  });

  it("a prompt redrawn with ANSI codes: output stays exact, nested shells still complete", async () => {
    const sid = await open("lab-ansi");
    expect(await exec(sid, "printf 'one\\ntwo\\n'")).toMatchObject({ output: "one\ntwo\n", exit_code: 0 });
    const screen = await h.call("get_screen", { session_id: sid, ansi: true });
    expect(screen.screen).toMatch(/\x1b\[[0-9;]*m\[ops@master-a/);
    const pod = await exec(sid, "kubectl exec -it redis-0 -n payment -- sh", { timeout: 20 });
    expect(pod).toMatchObject({ status: "completed", completion: "prompt" });
    expect(await exec(sid, "cat /etc/hostname")).toMatchObject({ output: "redis-0\n", exit_code: 0 });
  });

  it("a connection dropped mid-command: the session turns unhealthy with a readable error", async () => {
    const sid = await open("lab-master");
    const r = await exec(sid, "lab-drop", { timeout: 20 });
    expect(r.status).toBe("session_closed");
    expect(r.output).toContain("working...");
    const info = await pollUntil(async () => {
      const list = await h.call("list_sessions");
      const s = (list.sessions as { session_id: string; status: string; health_error: string }[]).find(
        (x) => x.session_id === sid,
      );
      return s && s.status !== "open" ? s : undefined;
    });
    expect(info.status).toBe("unhealthy");
    expect(info.health_error).toMatch(/status 255/);
    const again = await exec(sid, "true");
    expect(again).toMatchObject({ ok: false, code: "SESSION_UNHEALTHY" });
    expect(String((again as unknown as { error: string }).error)).toMatch(/reopen_session/);
  });
});
