import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchRun } from "./context.js";

/** Memory of the bench's processes, from /proc. */

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

/** The pid of the server now running (the newest instance's server_meta.json). */
export function serverPid(b: BenchRun): number {
  const inst = join(b.dir, "runtime", "instances");
  const d = readdirSync(inst).sort().pop() as string;
  return (JSON.parse(readFileSync(join(inst, d, "server_meta.json"), "utf8")) as { pid: number }).pid;
}

/** Memory taken now (kB) by the server and the tmux server with all it runs: summed VmRSS and PSS. */
export interface MemorySample {
  rss: number;
  pss: number;
}

export function memorySample(b: BenchRun): MemorySample {
  const tmuxPid = Number(
    execFileSync("tmux", ["-L", b.socket, "display", "-p", "#{pid}"], { encoding: "utf8" }).trim(),
  );
  const pids = (): number[] => [...new Set([...tree(tmuxPid), serverPid(b)])];
  const rss = pids().reduce((s, p) => s + rssKb(p), 0);
  const pss = pids().reduce((s, p) => s + pssKb(p), 0);
  return { rss, pss };
}
