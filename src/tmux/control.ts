import { spawn, type ChildProcess } from "node:child_process";
import { commandString, type TmuxCommand } from "./command.js";

/**
 * A persistent tmux control-mode client (`tmux -C`) for the hot path: the check-and-type of
 * execute_command and send_text, send_keys, and a pane's state. Starting a `tmux` process costs
 * 10-20 ms of fork and exec on a small VM, most of it blocking node's own thread; a line on
 * this client's stdin costs well under a millisecond.
 *
 * Where it is attached, and why there. Every ssh-mcp server on a socket attaches its client to
 * one shared session, `ssh-mcp-ctl`, whose pane runs a silent `cat`: the client never receives
 * the output of an SSH session and never counts as a human attached to one. That session is
 * never destroyed with a client. An earlier design gave each server a session of its own with
 * `destroy-unattached`: when such a server was SIGKILLed, tmux 3.3a destroyed the session as
 * the client went, and now and then its whole server crashed with it, taking every SSH session
 * along (docs/architecture.md has the reproduction). Callers that list panes see it too: it
 * carries none of their options.
 *
 * Protocol. A request is one or more command lines, then a sentinel `display-message -p` line
 * of our own. tmux runs the lines in order and answers each command with a `%begin`...`%end`
 * (or `%error`) block, and commands that one line queues (if-shell's branch) answer in blocks of
 * their own, before the next line: so a request's answer is every block up to the one that
 * prints its sentinel. Blocks with flag 0 (the attach itself) and notifications (`%window-add`,
 * ...) are skipped. Lines can run before the attach, so every command we send names its target.
 * Arguments travel as commandString quotes them (octal escapes for every byte outside a safe
 * set), so no text can be read as tmux syntax; a NUL cannot be sent (tmux strings end there).
 */
export class ControlError extends Error {}

/** A command's refusal by tmux (no such pane, ...), as opposed to the client failing. */
export class ControlRefusal extends Error {}

const SENTINEL = "ssh-mcp-ctl-done-";
export const CONTROL_SESSION = "ssh-mcp-ctl";

interface Pending {
  id: string;
  output: string[];
  error: string | undefined;
  resolve: (out: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Parses control-mode output into the blocks answering our commands (flag 1). */
export class ControlParser {
  private buf = "";
  private block: { lines: string[]; mine: boolean } | undefined;

  constructor(private readonly onBlock: (ok: boolean, output: string) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) !== -1) {
      const line = this.buf.slice(0, nl).replace(/\r$/, "");
      this.buf = this.buf.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    const guard = /^%(begin|end|error) \d+ \d+ (\d+)$/.exec(line);
    if (!this.block) {
      if (guard?.[1] === "begin") this.block = { lines: [], mine: guard[2] === "1" };
      return;
    }
    if (guard && guard[1] !== "begin") {
      const { lines, mine } = this.block;
      this.block = undefined;
      if (mine) this.onBlock(guard[1] === "end", lines.join("\n"));
      return;
    }
    this.block.lines.push(line);
  }
}

export class TmuxControl {
  private child: ChildProcess | undefined;
  private readonly pending: Pending[] = [];
  private dead = false;
  private seq = 0;

  constructor(
    private readonly tmuxPath: string,
    private readonly socket: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly timeoutMs = 10_000,
  ) {}

  /** True while the client runs and can take commands. */
  get alive(): boolean {
    return !this.dead;
  }

  start(): void {
    const child = spawn(
      this.tmuxPath,
      [
        "-u",
        "-L",
        this.socket,
        "-f",
        "/dev/null",
        "-C",
        "new-session",
        "-A",
        "-s",
        CONTROL_SESSION,
        "-x",
        "80",
        "-y",
        "24",
        "cat",
      ],
      { env: this.env, stdio: ["pipe", "pipe", "ignore"] },
    );
    this.child = child;
    const parser = new ControlParser((ok, out) => this.onBlock(ok, out));
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => parser.push(d));
    child.stdin?.on("error", () => this.fail("tmux control client: stdin closed"));
    child.on("error", () => this.fail("tmux control client could not start"));
    child.on("exit", () => this.fail("tmux control client exited"));
    // Never keeps the server process alive on its own.
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  private onBlock(ok: boolean, out: string): void {
    const p = this.pending[0];
    if (!p) return;
    if (ok && out === p.id) {
      this.pending.shift();
      clearTimeout(p.timer);
      if (p.error !== undefined) p.reject(new ControlRefusal(p.error || "tmux command failed"));
      else p.resolve(p.output.join("\n"));
      return;
    }
    if (!ok) p.error ??= out.trim();
    else if (out) p.output.push(out);
  }

  /**
   * Runs commands, in order; resolves with their output. Rejects with ControlRefusal when tmux
   * refused one (the others still ran), with ControlError when the client failed.
   */
  run(commands: TmuxCommand[]): Promise<string> {
    if (this.dead || !this.child?.stdin)
      return Promise.reject(new ControlError("tmux control client is down"));
    if (commands.some((c) => c.some((a) => a.includes("\0"))))
      return Promise.reject(new ControlError("NUL in a tmux argument"));
    const id = `${SENTINEL}${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail("tmux control client: no answer"), this.timeoutMs);
      timer.unref();
      this.pending.push({ id, output: [], error: undefined, resolve, reject, timer });
      const lines = commands.map((c) => commandString([c]) + "\n").join("");
      this.child?.stdin?.write(`${lines}display-message -p ${id}\n`);
    });
  }

  private fail(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new ControlError(reason));
    }
    this.child?.stdin?.destroy();
    if (this.child && this.child.exitCode === null) this.child.kill();
  }

  /** Detaches (the shared session stays for the other servers). Safe to call twice. */
  close(): void {
    this.fail("closed");
  }
}
