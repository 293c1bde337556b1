import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { baseProfile, connectClient, startHarness, type Harness } from "../support/harness.js";

/**
 * The audit never silently stops (docs/audit.md): a recorder killed while idle, while a command
 * streams, or while no server runs is replaced with a gap event; a transcript that cannot be
 * written refuses input at once and types nothing, and recording resumes when space returns.
 */

let h: Harness;
let mnt: string | undefined;

beforeAll(async () => {
  h = await startHarness({ profiles: (sshd) => ({ test: baseProfile(sshd) }) });
});

afterAll(async () => {
  if (mnt) {
    try {
      execFileSync("umount", ["-l", mnt]);
    } catch {
      // not mounted
    }
  }
  await h?.close();
});

interface Ev {
  dir: string;
  event?: string;
  pid?: number;
  text?: string;
  since?: string;
  resumed?: string;
  screen?: string;
}

/** The transcript's events, and its lines that are not JSON (torn). */
function read(path: string): { events: Ev[]; torn: number } {
  let torn = 0;
  const events = readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Ev];
      } catch {
        torn++;
        return [];
      }
    });
  return { events, torn };
}

/** Waits for the transcript's gap event (a repair is asynchronous). */
function gapIn(path: string, message: string): Promise<Ev> {
  return pollUntil(() => read(path).events.find((e) => e.dir === "gap"), { timeoutMs: 10_000, message });
}

function recorderPid(path: string): number {
  const ev = read(path)
    .events.filter((e) => e.dir === "event" && e.event === "recorder")
    .pop();
  expect(ev?.pid, "the recorder names its pid").toBeTypeOf("number");
  return ev?.pid as number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A tmpfs size that leaves about 200 kB free on the mount now (to fill it again). */
function fillSize(dir: string): string {
  const st = statfsSync(dir);
  const used = (st.blocks - st.bfree) * st.bsize;
  return String(used + 200 * 1024);
}

async function open(): Promise<{ session_id: string; transcript_path: string }> {
  const r = await h.call("open_session", { profile: "test" });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return r.session as { session_id: string; transcript_path: string };
}

/** Polls get_command until the command is no longer running. */
async function settled(sid: string, commandId: string): Promise<Record<string, unknown>> {
  return pollUntil(
    async () => {
      const r = (await h.call("get_command", { session_id: sid, command_id: commandId })).command as Record<
        string,
        unknown
      >;
      return r.status !== "running" ? r : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 200, message: "the command settles" },
  );
}

describe("recording health", () => {
  it("a recorder killed while idle is replaced, with a gap event, and input goes on", async () => {
    const s = await open();
    const sid = s.session_id;
    expect(await h.call("execute_command", { session_id: sid, command: "echo before-gap" })).toMatchObject({
      output: "before-gap\n",
    });
    const old = recorderPid(s.transcript_path);
    const killedAt = Date.now();
    process.kill(old, "SIGKILL");
    const gap = await gapIn(s.transcript_path, "a gap event");
    // The gap starts at the recorder's own last event, which came before the kill.
    expect(Date.parse(gap.since ?? "")).toBeLessThanOrEqual(killedAt);
    expect(Date.parse(gap.resumed ?? "")).toBeGreaterThanOrEqual(killedAt);
    expect(gap.screen).toContain("before-gap");
    const events = read(s.transcript_path).events;
    expect(events.some((e) => e.dir === "event" && e.event === "recorder_lost" && e.pid === old)).toBe(true);
    const next = await pollUntil(() => {
      const pid = recorderPid(s.transcript_path);
      return pid !== old && alive(pid) ? pid : undefined;
    });
    expect(next).not.toBe(old);
    expect(await h.call("execute_command", { session_id: sid, command: "echo after-gap" })).toMatchObject({
      ok: true,
      output: "after-gap\n",
    });
    const recv = read(s.transcript_path)
      .events.filter((e) => e.dir === "recv")
      .map((e) => e.text)
      .join("");
    expect(recv).toContain("after-gap");
    const listed = (await h.call("list_sessions")).sessions as {
      session_id: string;
      status: string;
      recording: string;
    }[];
    expect(listed.find((x) => x.session_id === sid)).toMatchObject({ status: "open", recording: "ok" });
  });

  it("a recorder killed while a command streams: the command still completes, flagged output_gap", async () => {
    const s = await open();
    const sid = s.session_id;
    const go = join(h.dir, "go-stream");
    const started = await h.call("execute_command", {
      session_id: sid,
      command: `while [ ! -e ${go} ]; do echo tick; sleep 0.05; done; echo end-of-stream`,
      timeout: 0.3,
    });
    expect(started.status).toBe("running");
    process.kill(recorderPid(s.transcript_path), "SIGKILL");
    await gapIn(s.transcript_path, "a gap event");
    writeFileSync(go, "");
    const r = await settled(sid, String(started.command_id));
    expect(r).toMatchObject({ status: "completed", exit_code: 0, output_gap: true });
    expect(String(r.output)).toContain("end-of-stream");
    const completes = read(s.transcript_path).events.filter(
      (e) => e.dir === "command_complete" && (e as { command_id?: string }).command_id === started.command_id,
    );
    expect(completes).toHaveLength(1);
  });

  it("a silent command still running through the gap stays running, and ends by its own mark", async () => {
    const s = await open();
    const sid = s.session_id;
    const go = join(h.dir, "go-silent");
    const started = await h.call("execute_command", {
      session_id: sid,
      command: `while [ ! -e ${go} ]; do sleep 0.05; done; echo silent-done`,
      timeout: 0.3,
    });
    expect(started.status).toBe("running");
    process.kill(recorderPid(s.transcript_path), "SIGKILL");
    await gapIn(s.transcript_path, "a gap event");
    const mid = (await h.call("get_command", { session_id: sid, command_id: started.command_id }))
      .command as Record<string, unknown>;
    expect(mid).toMatchObject({ status: "running", output_gap: true });
    writeFileSync(go, "");
    expect(await settled(sid, String(started.command_id))).toMatchObject({
      status: "completed",
      exit_code: 0,
    });
  });

  it("a pane that tmux no longer pipes is piped again before input goes in", async () => {
    const s = await open();
    const sid = s.session_id;
    execFileSync("tmux", ["-L", h.socket, "pipe-pane", "-t", `=${sid}:`]);
    const r = await h.call("execute_command", { session_id: sid, command: "echo piped-again" });
    expect(r, JSON.stringify(r)).toMatchObject({
      output: "piped-again\n",
    });
    const events = read(s.transcript_path).events;
    expect(events.some((e) => e.dir === "gap")).toBe(true);
    expect(events.some((e) => e.dir === "recv" && e.text?.includes("piped-again"))).toBe(true);
  });

  it("a recorder that died while no server ran: adoption pipes the pane again, and a command that ended meanwhile is incomplete", async () => {
    const s = await open();
    const sid = s.session_id;
    const go = join(h.dir, "go-gap");
    const started = await h.call("execute_command", {
      session_id: sid,
      command: `while [ ! -e ${go} ]; do sleep 0.05; done; echo finished-in-the-gap`,
      timeout: 0.2,
    });
    expect(started.status).toBe("running");
    const pid = recorderPid(s.transcript_path);
    await h.client.close();
    process.kill(pid, "SIGKILL");
    writeFileSync(go, "");
    // The command ends on the remote while nothing records: tmux still shows its output line
    // (not only the typed line, which holds the same words).
    await pollUntil(
      () =>
        /^finished-in-the-gap$/m.test(
          execFileSync("tmux", ["-L", h.socket, "capture-pane", "-p", "-t", `=${sid}:`], {
            encoding: "utf8",
          }),
        ),
      { timeoutMs: 10_000, message: "the command ends on the remote" },
    );
    h.client = await connectClient(h.env);
    await h.call("list_sessions");
    const gap = await gapIn(s.transcript_path, "a gap event after adoption");
    expect(gap.screen).toMatch(/^finished-in-the-gap$/m);
    const r = (await h.call("get_command", { session_id: sid, command_id: started.command_id }))
      .command as Record<string, unknown>;
    expect(r).toMatchObject({ status: "incomplete", exit_code: null, output_gap: true });
    expect(String(r.reason)).toMatch(/recording stopped/);
    expect(await h.call("execute_command", { session_id: sid, command: "echo alive" })).toMatchObject({
      output: "alive\n",
    });
  });
});

describe("a transcript that cannot be written", () => {
  it("refuses input at once and types nothing; recording resumes with a gap when space returns", async () => {
    mnt = join(h.dir, "small");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mnt]);
    await h.restartClient({ SSH_MCP_TRANSCRIPTS_DIR: mnt });
    const s = await open();
    const sid = s.session_id;
    // Fills the disk: the recorder cannot write, and the call says so instead of waiting.
    const flood = await h.call("execute_command", { session_id: sid, command: "seq 1 600000", timeout: 120 });
    expect(flood).toMatchObject({ ok: false, code: "TRANSCRIPT_UNAVAILABLE" });
    const listed = async () =>
      (
        (await h.call("list_sessions")).sessions as {
          session_id: string;
          status: string;
          health_error: string;
          recording: string;
        }[]
      ).find((x) => x.session_id === sid);
    expect(await listed()).toMatchObject({ status: "unhealthy", recording: "unavailable" });
    expect((await listed())?.health_error).toMatch(/TRANSCRIPT_UNAVAILABLE/);
    // Nothing is typed while nothing records.
    const marker = join(h.dir, "typed-while-unrecorded");
    for (const [tool, args] of [
      ["execute_command", { command: `touch ${marker}` }],
      ["send_text", { text: `touch ${marker}` }],
      ["send_keys", { keys: ["t", "Enter"] }],
    ] as const) {
      expect(await h.call(tool, { session_id: sid, ...args }), tool).toMatchObject({
        ok: false,
        code: "TRANSCRIPT_UNAVAILABLE",
      });
    }
    // Reading still works.
    expect((await h.call("get_screen", { session_id: sid })).ok).toBe(true);
    // Another session cannot even open here: it would not be recorded.
    expect(await h.call("open_session", { profile: "test" })).toMatchObject({
      ok: false,
      code: "TRANSCRIPT_UNAVAILABLE",
    });
    // Space returns: recording resumes by itself, with a gap.
    execFileSync("mount", ["-o", "remount,size=64m", mnt]);
    await pollUntil(async () => (await listed())?.status === "open", {
      timeoutMs: 10_000,
      message: "the session is open again",
    });
    // The flood ended during the gap (incomplete) or after it (completed, output_gap): settled.
    const floodId = (flood.data as { command_id?: string } | undefined)?.command_id;
    expect(floodId).toBeTypeOf("string");
    const floodResult = await settled(sid, String(floodId));
    expect(["incomplete", "completed"]).toContain(floodResult.status);
    expect(floodResult.output_gap).toBe(true);
    expect(await h.call("execute_command", { session_id: sid, command: "echo resumed" })).toMatchObject({
      output: "resumed\n",
    });
    expect(existsSync(marker)).toBe(false);
    const { events, torn } = read(s.transcript_path);
    expect(events.some((e) => e.dir === "gap")).toBe(true);
    // A line torn by the full disk is its own line, skipped and reported by readers.
    const t = await h.call("get_transcript", { session_id: sid, tail: 10_000 });
    expect(t.ok).toBe(true);
    const lines = readFileSync(s.transcript_path, "utf8").split("\n").filter(Boolean);
    expect(lines.length).toBeLessThan(10_000);
    expect(t.skipped_lines ?? 0).toBe(torn);
    expect(events.some((e) => e.dir === "recv" && e.text?.includes("resumed"))).toBe(true);
    // A second session, closed while its transcript is unavailable: closing is not input.
    const other = await open();
    execFileSync("mount", ["-o", "remount,size=" + fillSize(mnt as string), mnt as string]);
    await h.call("execute_command", { session_id: other.session_id, command: "seq 1 200000", timeout: 60 });
    expect((await h.call("close_session", { session_id: other.session_id })).ok).toBe(true);
    await h.call("close_session", { session_id: sid });
    await h.restartClient({});
  });
});
