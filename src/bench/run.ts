import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type BenchRun } from "./context.js";
import { removeSocketFile } from "./floors.js";
import { memorySample } from "./memory.js";
import { report, type Row } from "./report.js";
import {
  adoption,
  concurrentOpens,
  executeLatency,
  memoryPerSession,
  openSessionLatency,
  roundTripFloors,
  sendTextLatency,
  seqThroughput,
  viewerLatency,
} from "./scenarios.js";
import { startBenchSshd, type BenchSshd } from "./sshd.js";

/**
 * `ssh-mcp bench [--quick] [--sessions N]`: each performance figure next to its floor
 * measured in the same run (own sshd, own tmux socket, the built server driven by a real MCP
 * client over stdio). Prints a table and writes `<runtime dir>/bench/latest.json`. A
 * measurement, never a test: CI only checks that --quick completes and writes valid JSON.
 */
export async function runBench(args: {
  quick: boolean;
  sessions?: number;
  runtimeDir: string;
}): Promise<number> {
  const sshd = await startBenchSshd();
  const b = prepare(args, sshd);
  let rows: Row[];
  try {
    rows = await measure(b);
  } finally {
    await cleanUp(b);
  }
  report(args.runtimeDir, args.quick, rows);
  return 0;
}

/** The bench's temp dir, its profiles.json (one profile, `bench`, on the bench sshd) and the servers' env. */
function prepare(args: { quick: boolean; sessions?: number }, sshd: BenchSshd): BenchRun {
  const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-bench-"));
  const socket = `bench-${process.pid}`;
  const cfg = join(dir, "profiles.json");
  const bench = {
    host: "127.0.0.1",
    port: sshd.port,
    username: sshd.user,
    key_filename: sshd.key,
    known_hosts_file: sshd.knownHosts,
    allow_agent: false,
    look_for_keys: false,
    security: { redact_transcripts: true },
  };
  writeFileSync(cfg, JSON.stringify({ profiles: { bench } }));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    SSH_MCP_CONFIG: cfg,
    SSH_MCP_RUNTIME_DIR: join(dir, "runtime"),
    SSH_MCP_TMUX_SOCKET: socket,
  };
  return {
    quick: args.quick,
    runs: args.quick ? 10 : 50,
    lines: args.quick ? 100_000 : 2_000_000,
    nSessions: args.sessions ?? (args.quick ? 5 : 100),
    sshd,
    dir,
    socket,
    env,
  };
}

/** Every measurement, in order, on one session opened first (and the sessions they open). */
async function measure(b: BenchRun): Promise<Row[]> {
  const c = await startServer(b);
  const open = await c.call("open_session", { profile: "bench" });
  if (!open.ok) throw new Error(`bench: open_session failed: ${String(open.error)}`);
  const sid = (open.session as { session_id: string }).session_id;
  const floors = await roundTripFloors(b);
  const rows: Row[] = [
    await executeLatency(b, c, sid, floors.execute),
    await sendTextLatency(b, c, sid, floors.printf),
    await openSessionLatency(b, c),
    await seqThroughput(b, c, sid),
  ];
  const before = memorySample(b);
  const opens = await concurrentOpens(b, c);
  rows.push(opens.row, ...memoryPerSession(b, before));
  const adopted = await adoption(b, c, opens.ok);
  rows.push(...adopted.rows, ...(await viewerLatency(b, adopted.client, sid)));
  return rows;
}

/** Stops what the bench started: the server, its tmux server, the sshd; removes the temp dir. */
async function cleanUp(b: BenchRun): Promise<void> {
  await b.client?.close().catch(() => undefined);
  try {
    execFileSync("tmux", ["-L", b.socket, "kill-server"], { stdio: "ignore" });
  } catch {
    // already gone
  }
  removeSocketFile(b.socket);
  b.sshd.stop();
  // SSH_MCP_BENCH_KEEP=1 keeps the runtime (transcripts, server logs) for a look afterwards.
  if (process.env.SSH_MCP_BENCH_KEEP) process.stderr.write(`kept: ${b.dir}\n`);
  else rmSync(b.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
}
