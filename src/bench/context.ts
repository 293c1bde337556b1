import { fileURLToPath } from "node:url";
import { connectStdio, type ToolClient } from "../mcp/client.js";
import type { BenchSshd } from "./sshd.js";

/** What every scenario of one bench run shares. */
export interface BenchRun {
  quick: boolean;
  /** Round trips per latency figure. */
  runs: number;
  /** Lines of the large-output figure (`seq 1 <lines>`). */
  lines: number;
  /** Sessions opened at once. */
  nSessions: number;
  sshd: BenchSshd;
  /** The bench's temp dir: profiles.json, and the servers' runtime dir (runtime/). */
  dir: string;
  /** The servers' tmux socket. */
  socket: string;
  /** The servers' environment. */
  env: Record<string, string>;
  /** The client of the server now running (adoption starts another); closed at the end. */
  client?: ToolClient;
}

const CLI = fileURLToPath(new URL("../cli.js", import.meta.url));

/** `SSH_MCP_BENCH_PROFILE=<dir>`: each server the bench starts writes a V8 CPU profile there. */
export const PROFILE = process.env.SSH_MCP_BENCH_PROFILE
  ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SSH_MCP_BENCH_PROFILE}`]
  : [];

/** Starts the built server (`ssh-mcp serve`) and connects an MCP client to it over stdio. */
export async function startServer(b: BenchRun): Promise<ToolClient> {
  b.client = await connectStdio(process.execPath, [...PROFILE, CLI, "serve"], b.env);
  return b.client;
}
