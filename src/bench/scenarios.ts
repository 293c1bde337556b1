import { appendFileSync, readFileSync } from "node:fs";
import { get } from "node:http";
import type { ToolClient } from "../mcp/client.js";
import { PROFILE, startServer, type BenchRun } from "./context.js";
import { EXECUTE_LINE, floorLogin, floorRoundTrips, PRINTF_LINE, tmuxFloor } from "./floors.js";
import { memorySample, serverPid, type MemorySample } from "./memory.js";
import { median, p95, r2, type Row } from "./report.js";

/** The bench's measurements, one function each, in the order runBench takes them. */

/** A row of timings against their floor: medians, the 95th percentile, and the medians' ratio. */
function againstFloor(name: string, samples: number[], floor: number[], target: string): Row {
  return {
    name,
    median_ms: r2(median(samples)),
    p95_ms: r2(p95(samples)),
    floor: r2(median(floor)),
    ratio: r2(median(samples) / median(floor)),
    target,
  };
}

/** The bare `ssh -tt` round trips execute_command and send_text are compared with. */
export async function roundTripFloors(b: BenchRun): Promise<{ execute: number[]; printf: number[] }> {
  const execute = await floorRoundTrips(b.sshd, b.runs, EXECUTE_LINE);
  const printf = await floorRoundTrips(b.sshd, b.runs, PRINTF_LINE);
  return { execute, printf };
}

/** 1. execute_command("true") vs the bare ssh -tt marker round trip. */
export async function executeLatency(b: BenchRun, c: ToolClient, sid: string, floor: number[]): Promise<Row> {
  for (let i = 0; i < 5; i++) await c.call("execute_command", { session_id: sid, command: "true" });
  const exec: number[] = [];
  for (let i = 0; i < b.runs; i++) {
    const t0 = performance.now();
    await c.call("execute_command", { session_id: sid, command: "true" });
    exec.push(performance.now() - t0);
  }
  return againstFloor('execute_command("true")', exec, floor, "<= 1.5");
}

/** 2. send_text + wait_for vs the same floor (with the printf line). */
export async function sendTextLatency(
  b: BenchRun,
  c: ToolClient,
  sid: string,
  floor: number[],
): Promise<Row> {
  const st: number[] = [];
  for (let i = 0; i < b.runs; i++) {
    const n = `s${i}`;
    const t0 = performance.now();
    await c.call("send_text", { session_id: sid, text: `printf '%s_%s\\n' MK ${n}`, wait_for: `MK_${n}` });
    st.push(performance.now() - t0);
  }
  return againstFloor("send_text + wait_for", st, floor, "<= 1.5");
}

/** 3. open_session on a shell landing (its shell probed) vs a bare ssh -tt login to the prompt. */
export async function openSessionLatency(b: BenchRun, c: ToolClient): Promise<Row> {
  const opens: number[] = [];
  const logins: number[] = [];
  for (let i = 0; i < (b.quick ? 5 : 15); i++) {
    logins.push(await floorLogin(b.sshd));
    const t0 = performance.now();
    const o = await c.call("open_session", { profile: "bench" });
    opens.push(performance.now() - t0);
    if (o.ok) await c.call("close_session", { session_id: (o.session as { session_id: string }).session_id });
  }
  return {
    ...againstFloor("open_session (shell landing, probed)", opens, logins, "<= 1.5"),
    note: "floor: a bare ssh -tt login until its output ends on a shell prompt",
  };
}

/**
 * 4. Large output: lossless, wall time vs tmux's own floor. Three runs of each, medians
 * compared: single runs of either spread by a third on this kind of VM.
 */
export async function seqThroughput(b: BenchRun, c: ToolClient, sid: string): Promise<Row> {
  const bigRuns: number[] = [];
  let lossless = true;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const big = await c.call("execute_command", {
      session_id: sid,
      command: `seq 1 ${b.lines}`,
      timeout: 600,
    });
    bigRuns.push(performance.now() - t0);
    lossless &&= await outputIsSeq(c, sid, big.command_id as string, b.lines);
  }
  const floorRuns = [tmuxFloor(b.lines), tmuxFloor(b.lines), tmuxFloor(b.lines)];
  return {
    ...againstFloor(
      `seq 1 ${b.lines} (${lossless ? "lossless" : "LOST LINES"})`,
      bigRuns,
      floorRuns,
      "<= 1.25",
    ),
    p95_ms: r2(Math.max(...bigRuns)),
    note: "median of 3 runs, against the median of 3 floor runs; p95 column: the slowest run",
  };
}

/** Whether a command's whole output, paged through get_command, is `seq 1 <lines>`'s line count and end. */
async function outputIsSeq(c: ToolClient, sid: string, commandId: string, lines: number): Promise<boolean> {
  let offset: number | null = 0;
  let count = 0;
  let lastLine = "";
  while (offset !== null) {
    const g = await c.call("get_command", { session_id: sid, command_id: commandId, output_offset: offset });
    const text = (g.command as { output: string }).output;
    count += (text.match(/\n/g) ?? []).length;
    lastLine = text.trimEnd().split("\n").pop() ?? lastLine;
    offset = g.next_offset as number | null;
  }
  return count === lines && lastLine === String(lines);
}

/** 5. N sessions at once: time to all open. Returns how many opened. */
export async function concurrentOpens(b: BenchRun, c: ToolClient): Promise<{ row: Row; ok: number }> {
  const t1 = performance.now();
  const opened = await Promise.all(
    Array.from({ length: b.nSessions }, () => c.call("open_session", { profile: "bench" })),
  );
  const openMs = performance.now() - t1;
  const ok = opened.filter((o) => o.ok).length;
  // Why some did not open, once per distinct reason.
  for (const why of new Set(opened.filter((o) => !o.ok).map((o) => `${String(o.code)}: ${String(o.error)}`)))
    process.stderr.write(`open_session failed: ${why.slice(0, 400)}\n`);
  return {
    row: {
      name: `${b.nSessions} sessions opened at once (${ok} ok)`,
      value: r2(openMs),
      unit: "ms to all open",
    },
    ok,
  };
}

/** 5. Memory the N sessions added (`before`: sampled before they opened), per session. */
export function memoryPerSession(b: BenchRun, before: MemorySample): Row[] {
  const after = memorySample(b);
  const perSession = (after.rss - before.rss) / 1024 / b.nSessions;
  const perSessionPss = (after.pss - before.pss) / 1024 / b.nSessions;
  return [
    {
      name: "memory added per session (PSS)",
      value: r2(perSessionPss),
      unit: "MB",
      target: "<= 15",
      met: perSessionPss <= 15,
      note: "resident memory, shared pages split among the processes that share them",
    },
    {
      name: "summed VmRSS added per session",
      value: r2(perSession),
      unit: "MB",
      note: "counts shared binary pages (node, ssh, libc) once per process",
    },
  ];
}

/**
 * 6. Restart with them all live: kill the server, start a new one; time from its answer to
 * `initialize` (the clock) and from its spawn (node's own start-up included) to all
 * of them (`open`, and the first session) listed open and ours. Returns the new server's client.
 */
export async function adoption(
  b: BenchRun,
  c: ToolClient,
  open: number,
): Promise<{ rows: Row[]; client: ToolClient }> {
  // (Profiling: SIGTERM, so the first server writes its profile too.)
  process.kill(serverPid(b), PROFILE.length ? "SIGTERM" : "SIGKILL");
  await c.close().catch(() => undefined);
  const t2 = performance.now();
  const client = await startServer(b);
  const tInit = performance.now();
  let listed = 0;
  while (listed < open + 1) {
    const l = await client.call("list_sessions");
    listed = (l.sessions as { status: string; owned_by_this_server: boolean }[]).filter(
      (s) => s.status === "open" && s.owned_by_this_server,
    ).length;
    if (performance.now() - t2 > 60_000) break;
  }
  const done = performance.now();
  const adoptMs = done - tInit;
  const rows: Row[] = [
    {
      name: `adoption of ${listed} sessions, from initialize`,
      value: r2(adoptMs),
      unit: "ms",
      target: "<= 1000",
      met: adoptMs <= 1000,
    },
    {
      name: "  the same from the new server's spawn",
      value: r2(done - t2),
      unit: "ms",
      note: "node start-up and module loading included",
    },
  ];
  return { rows, client };
}

/** 7. Viewer: a line appended to a transcript reaches a long-polling client. */
export async function viewerLatency(b: BenchRun, c: ToolClient, sid: string): Promise<Row[]> {
  const l = await c.call("list_sessions");
  const info = (l.sessions as { session_id: string; viewer_url: string; transcript_path: string }[]).find(
    (s) => s.session_id === sid,
  );
  if (!info?.viewer_url) return [];
  const path = info.transcript_path;
  const lineCount = readFileSync(path, "utf8").split("\n").length - 1;
  const url = info.viewer_url.replace(
    `/sessions/${sid}?`,
    `/api/sessions/${sid}/events?after_line=${lineCount}&wait_ms=5000&`,
  );
  const event = () =>
    JSON.stringify({ ts: new Date().toISOString(), session_id: sid, dir: "event", event: "bench" }) + "\n";
  const lat: number[] = [];
  for (let i = 0; i < (b.quick ? 3 : 10); i++) {
    const n = readFileSync(path, "utf8").split("\n").length - 1;
    lat.push(
      await longPollLatency(url.replace(/after_line=\d+/, `after_line=${n}`), () =>
        appendFileSync(path, event()),
      ),
    );
  }
  return [
    {
      name: "viewer: appended line to client",
      median_ms: r2(median(lat)),
      target: "<= 100",
      met: median(lat) <= 100,
    },
  ];
}

/** How long a long-polling client waits for a line appended 200 ms after it asked. */
function longPollLatency(url: string, append: () => void): Promise<number> {
  return new Promise((resolveP, reject) => {
    let t0 = 0;
    const req = get(url, (res) => {
      res.resume();
      res.on("end", () => resolveP(performance.now() - t0));
    });
    req.on("error", reject);
    setTimeout(() => {
      t0 = performance.now();
      append();
    }, 200);
  });
}
