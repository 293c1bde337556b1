import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as pty from "node-pty";
import { cleanOutput, findEnd } from "../session/output.js";
import { classifyScreen } from "../session/screen.js";
import { installLine, parseInstall, wrapCommand } from "../session/shells.js";
import type { BenchSshd } from "./sshd.js";

/** The floors the bench's figures are compared with: the same work without ssh-mcp. */

/** One round trip a floor times. */
export interface FloorLine {
  /** Typed once before the round trips (the shell's helpers), and whether its answer came. */
  setup?: { line(nonce: string): string; done(output: string, nonce: string): boolean };
  /** What is typed for one round trip (Enter included). */
  line(nonce: string): string;
  /** Whether the output so far ends it. */
  done(output: string, nonce: string): boolean;
}

/** execute_command's line: C-u, then the short marked line around `true` (helpers installed first). */
export const EXECUTE_LINE: FloorLine = {
  setup: {
    line: (n) => `\x15${installLine("posix", n)}\n`,
    done: (out, n) => parseInstall(out, "posix", n) !== undefined,
  },
  line: (n) => `\x15${wrapCommand({ name: "bash" }, "posix", "true", n)}\n`,
  done: (out, n) => findEnd(out, n) !== undefined,
};
/** The bench's send_text line. */
export const PRINTF_LINE: FloorLine = {
  line: (n) => `printf '%s_%s\\n' MK ${n}\n`,
  done: (out, n) => out.includes(`MK_${n}`),
};

/**
 * The floor: the same round trip over `ssh -tt` in a bare pty (no tmux, no MCP), typing the
 * very line the tool types, so what is left of the ratio is ssh-mcp's own cost.
 */
export async function floorRoundTrips(sshd: BenchSshd, runs: number, what: FloorLine): Promise<number[]> {
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
export async function floorLogin(sshd: BenchSshd): Promise<number> {
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

/** `seq 1 <lines>` in a bare tmux pane, piped as ssh-mcp pipes it: tmux's own time for the output. */
export function tmuxFloor(lines: number): number {
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
export function removeSocketFile(socket: string): void {
  const uid = process.getuid?.() ?? 0;
  rmSync(join(process.env.TMUX_TMPDIR || "/tmp", `tmux-${uid}`, socket), { force: true });
}
