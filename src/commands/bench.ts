import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as pty from "node-pty";
import { startBenchSshd, type BenchSshd } from "../bench/sshd.js";
import { connectStdio, type ToolClient } from "../mcp/client.js";
import { cleanOutput, findEnd } from "../session/output.js";
import { classifyScreen } from "../session/screen.js";
import { installLine, parseInstall, wrapCommand } from "../session/shells.js";

/**
 * `ssh-mcp bench [--quick] [--sessions N]`: each performance figure next to its floor
 * measured in the same run (own sshd, own tmux socket, the built server driven by a real MCP
 * client over stdio). Prints a table and writes runtime/bench/latest.json. A measurement, never
 * a test: CI only checks that --quick completes and writes valid JSON.
 */
const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));

interface Row {
  name: string;
  median_ms?: number;
  p95_ms?: number;
  value?: number;
  unit?: string;
  floor?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
  note?: string;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const p95 = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? NaN;
const r2 = (x: number): number => Math.round(x * 100) / 100;

function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Proportional set size: resident memory with each shared page divided among the processes
 * that map it. Summed over processes it is the memory they really take; summed VmRSS counts the
 * node binary once per tap and the ssh binary once per bridge.
 */
function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** pid and every descendant, from /proc. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(p)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

interface FloorLine {
  /** Typed once before the round trips (the shell's helpers), and whether its answer came. */
  setup?: { line(nonce: string): string; done(output: string, nonce: string): boolean };
  /** What is typed for one round trip (Enter included). */
  line(nonce: string): string;
  /** Whether the output so far ends it. */
  done(output: string, nonce: string): boolean;
}

/** execute_command's line: C-u, then the short marked line around `true` (helpers installed first). */
const EXECUTE_LINE: FloorLine = {
  setup: {
    line: (n) => `\x15${installLine("posix", n)}\n`,
    done: (out, n) => parseInstall(out, "posix", n) !== undefined,
  },
  line: (n) => `\x15${wrapCommand({ name: "bash" }, "posix", "true", n)}\n`,
  done: (out, n) => findEnd(out, n) !== undefined,
};
/** The bench's send_text line. */
const PRINTF_LINE: FloorLine = {
  line: (n) => `printf '%s_%s\\n' MK ${n}\n`,
  done: (out, n) => out.includes(`MK_${n}`),
};

/**
 * The floor: the same round trip over `ssh -tt` in a bare pty (no tmux, no MCP), typing the
 * very line the tool types, so what is left of the ratio is ssh-mcp's own cost.
 */
async function floorRoundTrips(sshd: BenchSshd, runs: number, what: FloorLine): Promise<number[]> {
  const term = sshPty(sshd);
  let out = "";
  let last = Date.now();
  term.onData((d) => {
    out += d;
    last = Date.now();
  });
  const until = async (ok: () => boolean, ms = 15_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error("bench floor: timed out");
      await new Promise((r) => setImmediate(r));
    }
  };
  await until(() => out.length > 0 && Date.now() - last > 300);
  if (what.setup) {
    const nonce = randomBytes(8).toString("hex");
    out = "";
    term.write(what.setup.line(nonce));
    await until(() => what.setup?.done(out, nonce) ?? true);
  }
  const times: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    const nonce = randomBytes(8).toString("hex");
    out = "";
    const t0 = performance.now();
    term.write(what.line(nonce));
    await until(() => what.done(out, nonce));
    if (i >= 5) times.push(performance.now() - t0);
  }
  term.kill();
  return times;
}

/** A bare `ssh -tt` login to the bench sshd in a pseudo-terminal (no tmux, no MCP). */
function sshPty(sshd: BenchSshd): pty.IPty {
  return pty.spawn(
    "ssh",
    [
      "-tt",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${sshd.knownHosts}`,
      "-i",
      sshd.key,
      "-p",
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
    ],
    {
      cols: 120,
      rows: 40,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/", TERM: "xterm-256color" },
    },
  );
}

/**
 * The login floor: a bare `ssh -tt` in a pty, from spawn until its output ends on a shell prompt
 * (the same "looks like a shell prompt" test open_session uses, without the probe).
 */
async function floorLogin(sshd: BenchSshd): Promise<number> {
  const t0 = performance.now();
  const term = sshPty(sshd);
  let out = "";
  term.onData((d) => {
    out += d;
  });
  const deadline = Date.now() + 15_000;
  while (!classifyScreen(cleanOutput(out)).shellLike) {
    if (Date.now() > deadline) throw new Error("bench login floor: timed out");
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = performance.now() - t0;
  term.kill();
  return ms;
}

function tmuxFloor(lines: number): number {
  const sock = `bench-floor-${process.pid}`;
  const t0 = performance.now();
  execFileSync("tmux", [
    "-L",
    sock,
    "-f",
    "/dev/null",
    "set-option",
    "-g",
    "remain-on-exit",
    "on",
    ";",
    "new-session",
    "-d",
    "-s",
    "f",
    "-x",
    "120",
    "-y",
    "40",
    `seq 1 ${lines}`,
    ";",
    "pipe-pane",
    "-O",
    "-t",
    "f",
    "cat > /dev/null",
  ]);
  for (;;) {
    const dead = execFileSync("tmux", ["-L", sock, "display", "-p", "-t", "f", "#{pane_dead}"], {
      encoding: "utf8",
    }).trim();
    if (dead === "1") break;
  }
  const ms = performance.now() - t0;
  execFileSync("tmux", ["-L", sock, "kill-server"]);
  removeSocketFile(sock);
  return ms;
}

/** A killed tmux server leaves its socket file behind: the bench removes its own. */
function removeSocketFile(socket: string): void {
  const uid = process.getuid?.() ?? 0;
  rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${uid}`, socket), { force: true });
}

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

/** `SSH_MCP_BENCH_PROFILE=<dir>`: each server the bench starts writes a V8 CPU profile there. */
const PROFILE = process.env.SSH_MCP_BENCH_PROFILE
  ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SSH_MCP_BENCH_PROFILE}`]
  : [];

export async function runBench(args: {
  quick: boolean;
  sessions?: number;
  runtimeDir: string;
}): Promise<number> {
  const runs = args.quick ? 10 : 50;
  const lines = args.quick ? 100_000 : 2_000_000;
  const nSessions = args.sessions ?? (args.quick ? 5 : 100);
  const sshd = await startBenchSshd();
  const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-bench-"));
  const socket = `bench-${process.pid}`;
  const cfg = join(dir, "profiles.json");
  writeFileSync(
    cfg,
    JSON.stringify({
      profiles: {
        bench: {
          host: "127.0.0.1",
          port: sshd.port,
          username: sshd.user,
          key_filename: sshd.key,
          known_hosts_file: sshd.knownHosts,
          allow_agent: false,
          look_for_keys: false,
          security: { redact_transcripts: true },
        },
      },
    }),
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    SSH_MCP_CONFIG: cfg,
    SSH_MCP_RUNTIME_DIR: join(dir, "runtime"),
    SSH_MCP_TMUX_SOCKET: socket,
  };
  const rows: Row[] = [];
  let client: ToolClient | undefined;
  try {
    client = await connectStdio(process.execPath, [...PROFILE, CLI, "serve"], env);
    const c = client;
    const open = await c.call("open_session", { profile: "bench" });
    if (!open.ok) throw new Error(`bench: open_session failed: ${String(open.error)}`);
    const sid = (open.session as { session_id: string }).session_id;

    // 1. execute_command("true") vs the bare ssh -tt marker round trip.
    const floor = await floorRoundTrips(sshd, runs, EXECUTE_LINE);
    const floorPrintf = await floorRoundTrips(sshd, runs, PRINTF_LINE);
    for (let i = 0; i < 5; i++) await c.call("execute_command", { session_id: sid, command: "true" });
    const exec: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await c.call("execute_command", { session_id: sid, command: "true" });
      exec.push(performance.now() - t0);
    }
    rows.push({
      name: 'execute_command("true")',
      median_ms: r2(median(exec)),
      p95_ms: r2(p95(exec)),
      floor: r2(median(floor)),
      ratio: r2(median(exec) / median(floor)),
      target: "<= 1.5",
    });

    // 2. send_text + wait_for vs the same floor.
    const st: number[] = [];
    for (let i = 0; i < runs; i++) {
      const n = `s${i}`;
      const t0 = performance.now();
      await c.call("send_text", { session_id: sid, text: `printf '%s_%s\\n' MK ${n}`, wait_for: `MK_${n}` });
      st.push(performance.now() - t0);
    }
    rows.push({
      name: "send_text + wait_for",
      median_ms: r2(median(st)),
      p95_ms: r2(p95(st)),
      floor: r2(median(floorPrintf)),
      ratio: r2(median(st) / median(floorPrintf)),
      target: "<= 1.5",
    });

    // 3. open_session on a shell landing (its shell probed) vs a bare ssh -tt login to the prompt.
    const opens: number[] = [];
    const logins: number[] = [];
    for (let i = 0; i < (args.quick ? 5 : 15); i++) {
      logins.push(await floorLogin(sshd));
      const t0 = performance.now();
      const o = await c.call("open_session", { profile: "bench" });
      opens.push(performance.now() - t0);
      if (o.ok)
        await c.call("close_session", { session_id: (o.session as { session_id: string }).session_id });
    }
    rows.push({
      name: "open_session (shell landing, probed)",
      median_ms: r2(median(opens)),
      p95_ms: r2(p95(opens)),
      floor: r2(median(logins)),
      ratio: r2(median(opens) / median(logins)),
      target: "<= 1.5",
      note: "floor: a bare ssh -tt login until its output ends on a shell prompt",
    });

    // 4. Large output: lossless, wall time vs tmux's own floor. Three runs of each, medians
    // compared: single runs of either spread by a third on this kind of VM.
    const bigRuns: number[] = [];
    let lossless = true;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const big = await c.call("execute_command", {
        session_id: sid,
        command: `seq 1 ${lines}`,
        timeout: 600,
      });
      bigRuns.push(performance.now() - t0);
      let offset: number | null = 0;
      let count = 0;
      let lastLine = "";
      while (offset !== null) {
        const g = await c.call("get_command", {
          session_id: sid,
          command_id: big.command_id as string,
          output_offset: offset,
        });
        const text = (g.command as { output: string }).output;
        count += (text.match(/\n/g) ?? []).length;
        lastLine = text.trimEnd().split("\n").pop() ?? lastLine;
        offset = g.next_offset as number | null;
      }
      lossless &&= count === lines && lastLine === String(lines);
    }
    const floorRuns = [tmuxFloor(lines), tmuxFloor(lines), tmuxFloor(lines)];
    rows.push({
      name: `seq 1 ${lines} (${lossless ? "lossless" : "LOST LINES"})`,
      median_ms: r2(median(bigRuns)),
      p95_ms: r2(Math.max(...bigRuns)),
      floor: r2(median(floorRuns)),
      ratio: r2(median(bigRuns) / median(floorRuns)),
      target: "<= 1.25",
      note: "median of 3 runs, against the median of 3 floor runs; p95 column: the slowest run",
    });

    // 5. N sessions at once: time to all open, RSS added per session.
    const meta = () => {
      const inst = join(dir, "runtime", "instances");
      const d = readdirSync(inst).sort().pop() as string;
      return JSON.parse(readFileSync(join(inst, d, "server_meta.json"), "utf8")) as { pid: number };
    };
    const tmuxPid = Number(
      execFileSync("tmux", ["-L", socket, "display", "-p", "#{pid}"], { encoding: "utf8" }).trim(),
    );
    const pids = (): number[] => [...new Set([...tree(tmuxPid), meta().pid])];
    const total = (): number => pids().reduce((s, p) => s + rssKb(p), 0);
    const totalPss = (): number => pids().reduce((s, p) => s + pssKb(p), 0);
    const before = total();
    const beforePss = totalPss();
    const t1 = performance.now();
    const opened = await Promise.all(
      Array.from({ length: nSessions }, () => c.call("open_session", { profile: "bench" })),
    );
    const openMs = performance.now() - t1;
    const ok = opened.filter((o) => o.ok).length;
    // Why some did not open, once per distinct reason.
    for (const why of new Set(
      opened.filter((o) => !o.ok).map((o) => `${String(o.code)}: ${String(o.error)}`),
    ))
      process.stderr.write(`open_session failed: ${why.slice(0, 400)}\n`);
    const perSession = (total() - before) / 1024 / nSessions;
    const perSessionPss = (totalPss() - beforePss) / 1024 / nSessions;
    rows.push({
      name: `${nSessions} sessions opened at once (${ok} ok)`,
      value: r2(openMs),
      unit: "ms to all open",
    });
    rows.push({
      name: "memory added per session (PSS)",
      value: r2(perSessionPss),
      unit: "MB",
      target: "<= 15",
      met: perSessionPss <= 15,
      note: "resident memory, shared pages split among the processes that share them",
    });
    rows.push({
      name: "summed VmRSS added per session",
      value: r2(perSession),
      unit: "MB",
      note: "counts shared binary pages (node, ssh, libc) once per process",
    });

    // 6. Restart with them all live: kill the server, start a new one; time from its answer to
    // `initialize` (the issue's clock) and from its spawn (node's own start-up included) to all
    // of them listed open and ours.
    // (Profiling: SIGTERM, so the first server writes its profile too.)
    process.kill(meta().pid, PROFILE.length ? "SIGTERM" : "SIGKILL");
    await c.close().catch(() => undefined);
    const t2 = performance.now();
    client = await connectStdio(process.execPath, [...PROFILE, CLI, "serve"], env);
    const tInit = performance.now();
    let listed = 0;
    while (listed < ok + 1) {
      const l = await client.call("list_sessions");
      listed = (l.sessions as { status: string; owned_by_this_server: boolean }[]).filter(
        (s) => s.status === "open" && s.owned_by_this_server,
      ).length;
      if (performance.now() - t2 > 60_000) break;
    }
    const done = performance.now();
    const adoptMs = done - tInit;
    rows.push({
      name: `adoption of ${listed} sessions, from initialize`,
      value: r2(adoptMs),
      unit: "ms",
      target: "<= 1000",
      met: adoptMs <= 1000,
    });
    rows.push({
      name: "  the same from the new server's spawn",
      value: r2(done - t2),
      unit: "ms",
      note: "node start-up and module loading included",
    });

    // 6. Viewer: a line appended to a transcript reaches a long-polling client.
    const l = await client.call("list_sessions");
    const info = (l.sessions as { session_id: string; viewer_url: string; transcript_path: string }[]).find(
      (s) => s.session_id === sid,
    );
    if (info?.viewer_url) {
      const path = info.transcript_path;
      const lineCount = readFileSync(path, "utf8").split("\n").length - 1;
      const url = info.viewer_url.replace(
        `/sessions/${sid}?`,
        `/api/sessions/${sid}/events?after_line=${lineCount}&wait_ms=5000&`,
      );
      const lat: number[] = [];
      for (let i = 0; i < (args.quick ? 3 : 10); i++) {
        const n = readFileSync(path, "utf8").split("\n").length - 1;
        lat.push(
          await longPollLatency(url.replace(/after_line=\d+/, `after_line=${n}`), () =>
            appendFileSync(
              path,
              JSON.stringify({
                ts: new Date().toISOString(),
                session_id: sid,
                dir: "event",
                event: "bench",
              }) + "\n",
            ),
          ),
        );
      }
      rows.push({
        name: "viewer: appended line to client",
        median_ms: r2(median(lat)),
        target: "<= 100",
        met: median(lat) <= 100,
      });
    }
  } finally {
    await client?.close().catch(() => undefined);
    try {
      execFileSync("tmux", ["-L", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      // already gone
    }
    removeSocketFile(socket);
    sshd.stop();
    // SSH_MCP_BENCH_KEEP=1 keeps the runtime (transcripts, server logs) for a look afterwards.
    if (process.env.SSH_MCP_BENCH_KEEP) process.stderr.write(`kept: ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
  for (const r of rows)
    if (r.ratio !== undefined && r.target) r.met = r.ratio <= Number(r.target.replace(/[^\d.]/g, ""));
  const outDir = join(resolve(args.runtimeDir), "bench");
  mkdirSync(outDir, { recursive: true });
  const result = { at: new Date().toISOString(), quick: args.quick, rows };
  writeFileSync(join(outDir, "latest.json"), JSON.stringify(result, null, 2) + "\n");
  const pad = (s: string, n: number): string => s.padEnd(n);
  process.stdout.write(
    `${pad("measurement", 46)}${pad("median/value", 16)}${pad("p95", 10)}${pad("floor", 10)}${pad("ratio", 8)}target\n`,
  );
  for (const r of rows) {
    process.stdout.write(
      `${pad(r.name, 46)}${pad(String(r.median_ms ?? r.value ?? "") + (r.unit ? ` ${r.unit}` : r.median_ms !== undefined ? " ms" : ""), 16)}${pad(String(r.p95_ms ?? ""), 10)}${pad(String(r.floor ?? ""), 10)}${pad(String(r.ratio ?? ""), 8)}${r.target ?? ""}${r.met === undefined ? "" : r.met ? "  met" : "  MISSED"}\n`,
    );
  }
  process.stdout.write(`written: ${join(outDir, "latest.json")}\n`);
  return 0;
}
