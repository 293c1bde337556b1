import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";

/**
 * A persistent tmux control-mode client (`tmux -C`) for the hot path (send-keys, one pane's
 * state). Starting a `tmux` process costs 10-20 ms on a small VM and `execute_command` needs
 * two; a line on this client's stdin costs well under a millisecond.
 *
 * The client attaches to a session of its own, `ssh-mcp-ctl-<pid>-<rand>`, whose pane runs a
 * silent `cat`: it never receives output of an SSH session and never counts as a human attached
 * to one. `destroy-unattached` removes that session when the client goes (EOF on stdin when the
 * server exits, even by SIGKILL). Discovery ignores it: it has no `@ssh_mcp_session_id`.
 *
 * Protocol: one command per line; tmux answers each with `%begin T N 1`, output lines, then
 * `%end T N 1` or `%error T N 1`, in order. Blocks with flag 0 (the attach itself) and
 * notifications (`%window-add`, ...) are skipped. Lines from stdin may run before the attach
 * itself, so every command we send names its target. Every argument travels double-quoted with
 * every byte outside a small safe set as an octal escape, so tmux's parser sees no `$`, `~`,
 * quote, `;` or control character of its own. A NUL cannot be sent (tmux strings end there):
 * such a command is refused; sendLiteral types a NUL as the key C-@ instead.
 */
export class ControlError extends Error {}

interface Pending {
  resolve: (out: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const SAFE = /^[A-Za-z0-9_.,:=+@%/-]$/;

/** A tmux command line with every argument double-quoted and escaped (see above). */
export function controlLine(args: string[]): string {
  return args
    .map((a) => {
      let out = '"';
      for (const b of Buffer.from(a, "utf8")) {
        const ch = String.fromCharCode(b);
        out += b < 0x80 && SAFE.test(ch) ? ch : "\\" + b.toString(8).padStart(3, "0");
      }
      return out + '"';
    })
    .join(" ");
}

/** Parses control-mode output; calls `onBlock` for each block answering one of our commands. */
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
    const name = `ssh-mcp-ctl-${process.pid}-${randomBytes(3).toString("hex")}`;
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
        name,
        "-x",
        "80",
        "-y",
        "24",
        "cat",
        // In the same argv: a line from stdin can run before the attach, and an untargeted
        // set-option there would hit another session (an SSH one, which has no client).
        ";",
        "set-option",
        "-t",
        name,
        "destroy-unattached",
        "on",
      ],
      { env: this.env, stdio: ["pipe", "pipe", "ignore"] },
    );
    this.child = child;
    const parser = new ControlParser((ok, out) => {
      const p = this.pending.shift();
      if (!p) return;
      clearTimeout(p.timer);
      if (ok) p.resolve(out);
      else p.reject(new ControlError(out.trim() || "tmux command failed"));
    });
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

  /** Runs one tmux command; resolves with its output. */
  run(args: string[]): Promise<string> {
    if (this.dead || !this.child?.stdin)
      return Promise.reject(new ControlError("tmux control client is down"));
    if (args.some((a) => a.includes("\0"))) return Promise.reject(new ControlError("NUL in a tmux argument"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail("tmux control client: no answer"), this.timeoutMs);
      timer.unref();
      this.pending.push({ resolve, reject, timer });
      this.child?.stdin?.write(controlLine(args) + "\n");
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

  /** Detaches (tmux then destroys the control session). Safe to call twice. */
  close(): void {
    this.fail("closed");
  }
}
