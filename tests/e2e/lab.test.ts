import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { BIN, type Cmd } from "../support/harness.js";
import { freePort, startLabHarness, type LabHarness } from "../support/lab-harness.js";

/** The product's workflow on the embedded default: bastion menu -> master -> pod, over stdio. */

let h: LabHarness;
let sid: string;
const POD = "payment-api-7d9f8b6c4-x2k9p";

const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
  (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;
const send = (text: string, extra: Record<string, unknown> = {}) =>
  h.call("send_text", { session_id: sid, text, timeout: 10, ...extra });

beforeAll(async () => {
  h = await startLabHarness();
});

afterAll(async () => {
  await h?.close();
});

describe("no profiles file: the built-in lab is the default", () => {
  it("lists the built-in profiles and starts the lab on demand", async () => {
    const r = await h.call("open_session", { profile: "lab", owner_label: "lab-e2e" });
    expect(r.ok).toBe(true);
    sid = (r.session as { session_id: string }).session_id;
    const screen = await h.call("get_screen", { session_id: sid });
    expect(screen.screen).toMatch(/CMSM Bastion/);
    expect(screen.screen).toMatch(/Target IP:\s*$/);
  });

  it("walks the menu: list, bad input re-asks, privileged password without echo", async () => {
    expect((await send("", { wait_for: "10.0.0.12" })).output).toMatch(/master-b/);
    expect((await send("10.9.9.9", { wait_for: "No such target" })).matched).toBe("No such target");
    expect((await send("10.0.0.11", { wait_for: "User number:" })).output).toMatch(/root\s+privileged/);
    expect((await send("9", { wait_for: "Invalid user number" })).timed_out).toBe(false);
    await send("3", { wait_for: "^Password: ?$", regex: true });
    expect((await send("wrong-password", { sensitive: true, wait_for: "Access denied" })).timed_out).toBe(
      false,
    );
    const ok = await send(h.password, { sensitive: true, wait_for: "\\]# ?$", regex: true });
    expect(ok).toMatchObject({ ok: true, timed_out: false });
    expect(JSON.stringify(ok)).not.toContain(h.password);
  });

  it("runs exact commands with exit codes in the master shell (bash)", async () => {
    expect(await exec("echo $BASH_VERSION | cut -c1")).toMatchObject({ exit_code: 0, output: "5\n" });
    const pods = await exec("kubectl get pods -n payment");
    expect(pods).toMatchObject({ status: "completed", exit_code: 0, completion: "marker" });
    expect(pods.output).toMatch(/payment-worker-\S+\s+0\/1\s+CrashLoopBackOff/);
    expect(pods.output.split("\n")[0]).toMatch(/^NAME\s+READY\s+STATUS/);
    const missing = await exec("kubectl logs nosuch-pod -n payment");
    expect(missing.exit_code).toBe(1);
    expect(missing.output).toMatch(/NotFound/);
    expect((await exec("kubectl logs payment-worker-5c6d7f8b9-q8r7t -n payment --tail=1")).output).toMatch(
      /FATAL/,
    );
    // A flag without its value is an error, not a hang.
    expect((await exec("kubectl get pods -n", { timeout: 10 })).exit_code).toBe(1);
    // The privileged password never reaches a shell's environment.
    expect(await exec("env | grep -c LAB_PASSWORD")).toMatchObject({ output: "0\n" });
  });

  it("enters the pod: the nested shell completes by prompt, then runs exact commands (sh)", async () => {
    const enter = await exec(`kubectl exec -it ${POD} -n payment -- /bin/sh`, { timeout: 20 });
    expect(enter).toMatchObject({ status: "completed", completion: "prompt" });
    expect(await exec("echo $0; cat /etc/hostname")).toMatchObject({
      exit_code: 0,
      output: `/bin/sh\n${POD}\n`,
    });
    expect(await exec("ls /var/log/app")).toMatchObject({ exit_code: 0 });
    expect((await exec("ls /var/log/app")).output.split(/\s+/).filter(Boolean).sort()).toEqual([
      "app.log",
      "error.log",
      "payment.log",
    ]);
    expect((await exec("ls /nonexistent")).exit_code).not.toBe(0);
    expect((await exec("grep -c timeout /var/log/app/app.log")).output).toBe("2\n");
  });

  it("search_logs in the pod returns structured matches", async () => {
    const r = await h.call("search_logs", {
      session_id: sid,
      pattern: "gateway_timeout",
      path: "/var/log/app",
    });
    expect(r.ok).toBe(true);
    expect(r.matches).toEqual([
      { file: "/var/log/app/payment.log", line: 1, text: expect.stringContaining("ORD-88123") },
      { file: "/var/log/app/payment.log", line: 2, text: expect.stringContaining("ORD-88124") },
    ]);
    const trace = await h.call("search_logs", {
      session_id: sid,
      pattern: "IllegalStateException",
      path: "/var/log/app",
      context: 1,
    });
    expect((trace.matches as { file: string }[])[0]?.file).toBe("/var/log/app/error.log");
  });

  it("exit walks back out to the master shell", async () => {
    const back = await send("exit", { wait_for: "\\]# ?$", regex: true });
    expect(back.timed_out).toBe(false);
    expect(back.output).not.toMatch(/__SSHMCP_/);
    expect(await exec("echo $BASH_VERSION | cut -c1")).toMatchObject({ output: "5\n" });
  });

  it("the password never reached the transcript", async () => {
    const t = await h.call("get_transcript", { session_id: sid, tail: 10_000 });
    expect(readFileSync(t.transcript_path as string, "utf8")).not.toContain(h.password);
    expect(JSON.stringify(t.events)).toContain("[REDACTED]");
  });

  it("the lab-master profile's route lands straight in the master shell", async () => {
    const r = await h.call("open_session", { profile: "lab-master" });
    expect(r.ok).toBe(true);
    const id = (r.session as { session_id: string }).session_id;
    const e = await h.call("execute_command", { session_id: id, command: "kubectl get ns | wc -l" });
    expect(e).toMatchObject({ exit_code: 0, output: "4\n" });
    const t = await h.call("get_transcript", { session_id: id, tail: 10_000 });
    expect((t.events as { tool?: string }[]).filter((ev) => ev.tool === "route")).toHaveLength(2);
    await h.call("close_session", { session_id: id });
  });

  it("ssh-mcp demo walks the whole path through a real server and leaves the session open", async () => {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, [BIN, "demo"], { env: h.env, timeout: 120_000 }, (err, out) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: out }),
      );
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/CrashLoopBackOff/);
    expect(stdout).toMatch(/completion: prompt/);
    // The demo searches var/log/app relative to the pod's root: / in a chroot, the pod's own
    // directory where none is possible (no busybox, no root, no user namespaces).
    expect(stdout).toMatch(/ var\/log\/app\/payment\.log:1: .*gateway_timeout/);
    const attach = /tmux -L \S+ attach -t (\S+)/.exec(stdout);
    expect(attach?.[1]).toBeTruthy();
    const alive = await new Promise<boolean>((resolve) =>
      execFile("tmux", ["-L", h.socket, "has-session", "-t", `=${attach?.[1]}`], (err) => resolve(!err)),
    );
    expect(alive).toBe(true);
  });
});

describe("ssh-mcp lab", () => {
  it("runs the lab in the foreground until SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, "lab", "--port", String(port)], {
      env: { ...h.env, SSH_MCP_RUNTIME_DIR: join(h.dir, "fg-runtime") },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await pollUntil(() => err.includes(`listening on 127.0.0.1:${port}`), {
      timeoutMs: 15_000,
      message: "lab did not start",
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
