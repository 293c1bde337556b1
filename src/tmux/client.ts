import { execFile } from "node:child_process";
import { SshMcpError } from "../errors.js";
import { ControlError, TmuxControl } from "./control.js";

/**
 * The tmux client: argv arrays to `tmux -L <socket>`, never a shell string, and an environment
 * without TMUX/TMUX_PANE (so a server started from inside tmux never talks to the user's own
 * tmux) and without the secrets the caller names (so they never reach the tmux server's
 * environment, which every pane inherits). It knows nothing about SSH.
 */

export interface PaneInfo {
  paneId: string;
  dead: boolean;
  deadStatus: number | null;
  cursorX: number;
  cursorY: number;
  width: number;
  height: number;
  alternate: boolean;
  pid: number;
  attachedClients: number;
  /** ssh-mcp's window options: which session, which server owns it, the input lock. */
  sessionId: string;
  ownerInstance: string;
  ownerPid: number;
  lock: string;
  /** tmux pipes the pane's output to a process (the recorder); false once that pipe closed. */
  piped: boolean;
}

/** A complete command for one tmux invocation: commands joined by ";" separators. */
export type TmuxCommand = string[];

/** tmux treats an argument ending in ";" as a command separator; "\;" at the end is a literal ";". */
export function escapeArg(arg: string): string {
  return arg.endsWith(";") ? arg.slice(0, -1) + "\\;" : arg;
}

/** Joins commands into one argv with ";" separators, escaping every argument. */
export function chain(...commands: TmuxCommand[]): string[] {
  const out: string[] = [];
  commands.forEach((cmd, i) => {
    if (i > 0) out.push(";");
    out.push(...cmd.map(escapeArg));
  });
  return out;
}

/** Splits text into pieces under tmux's message size limit, never inside a UTF-16 surrogate pair. */
export function chunkText(text: string, maxBytes = 8000): string[] {
  const chunks: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const size =
      code < 0x80
        ? 1
        : code < 0x800
          ? 2
          : code >= 0xd800 && code <= 0xdbff
            ? 4
            : code >= 0xdc00 && code <= 0xdfff
              ? 0
              : 3;
    if (bytes + size > maxBytes && i > start && !(code >= 0xdc00 && code <= 0xdfff)) {
      chunks.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < text.length) chunks.push(text.slice(start));
  return chunks;
}

/** The commands that type `text` literally into `target`, after the named keys `firstKeys`. */
export function literalCommands(target: string, text: string, firstKeys: string[] = []): TmuxCommand[] {
  const cmds: TmuxCommand[] = [];
  if (firstKeys.length) cmds.push(["send-keys", "-t", target, ...firstKeys]);
  // A NUL ends a C string in tmux: it travels as the key C-@, which types the same byte.
  text.split("\0").forEach((part, i) => {
    if (i > 0) cmds.push(["send-keys", "-t", target, "C-@"]);
    for (const c of chunkText(part)) cmds.push(["send-keys", "-t", target, "-l", "--", c]);
  });
  return cmds;
}

const SAFE_BYTE = /^[A-Za-z0-9_.,:=+@%/-]$/;

/**
 * Commands as one string for tmux's own parser (the command arguments of if-shell). Every
 * argument travels double-quoted, every byte outside a small safe set as an octal escape, so
 * the parser (and format expansion before it) sees no `#`, `$`, `~`, quote, `;` or control
 * character of the text. Arguments must hold no NUL (literalCommands never makes one).
 */
export function commandString(commands: TmuxCommand[]): string {
  return commands
    .map((args) =>
      args
        .map((a) => {
          let out = '"';
          for (const b of Buffer.from(a, "utf8")) {
            const ch = String.fromCharCode(b);
            out += b < 0x80 && SAFE_BYTE.test(ch) ? ch : "\\" + b.toString(8).padStart(3, "0");
          }
          return out + '"';
        })
        .join(" "),
    )
    .join(" ; ");
}

/** Whether commands fit one tmux message as a commandString (about 16 kB per message). */
export function fitsOneMessage(commands: TmuxCommand[]): boolean {
  let bytes = 0;
  for (const args of commands) for (const a of args) bytes += Buffer.byteLength(a) + 3;
  return bytes <= 3_000 || (bytes <= 12_000 && commandString(commands).length <= 12_000);
}

const NOT_RUN = "ssh-mcp-not-run";

/** Quotes one word for sh (used only for pipe-pane, whose command tmux hands to sh -c). */
export function shQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Field separator in formats: printable ASCII, since tmux escapes tabs without a UTF-8 locale. */
export const SEP = "|:|";

export const PANE_FORMAT = [
  "#{pane_id}",
  "#{pane_dead}",
  "#{pane_dead_status}",
  "#{cursor_x}",
  "#{cursor_y}",
  "#{pane_width}",
  "#{pane_height}",
  "#{alternate_on}",
  "#{pane_pid}",
  "#{session_attached}",
  "#{@ssh_mcp_session_id}",
  "#{@ssh_mcp_server_instance_id}",
  "#{@ssh_mcp_server_pid}",
  "#{@ssh_mcp_lock}",
  "#{pane_pipe}",
].join(SEP);

/** Fields of PANE_FORMAT; extra fields of listPanes come after these. */
const PANE_FIELDS = 15;

export function parsePaneLine(line: string): PaneInfo | undefined {
  const f = line.split(SEP);
  if (f.length < PANE_FIELDS || !f[0]?.startsWith("%")) return undefined;
  const num = (s: string | undefined): number => Number(s ?? "0") || 0;
  return {
    paneId: f[0],
    dead: f[1] === "1",
    deadStatus: f[2] === "" || f[2] === undefined ? null : Number(f[2]),
    cursorX: num(f[3]),
    cursorY: num(f[4]),
    width: num(f[5]),
    height: num(f[6]),
    alternate: f[7] === "1",
    pid: num(f[8]),
    attachedClients: num(f[9]),
    sessionId: f[10] ?? "",
    ownerInstance: f[11] ?? "",
    ownerPid: num(f[12]),
    lock: f[13] ?? "",
    piped: f[14] === "1",
  };
}

export class Tmux {
  private readonly env: NodeJS.ProcessEnv;
  /** Variables added to tmux's environment that panes should not inherit. */
  readonly injectedEnv: string[] = [];

  constructor(
    readonly socket: string,
    opts: { env?: NodeJS.ProcessEnv; secretEnvNames?: string[]; tmuxPath?: string } = {},
  ) {
    const env = { ...(opts.env ?? process.env) };
    delete env.TMUX;
    delete env.TMUX_PANE;
    for (const name of opts.secretEnvNames ?? []) delete env[name];
    // tmux mangles non-ASCII text (send-keys, capture-pane) unless it runs in a UTF-8 locale.
    const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || "";
    if (!/utf-?8/i.test(locale)) {
      delete env.LC_ALL;
      env.LC_CTYPE = "C.UTF-8";
      // Panes must not forward a locale the user never had (ssh's SendEnv LC_*).
      this.injectedEnv.push("LC_CTYPE");
    }
    this.env = env;
    this.tmuxPath = opts.tmuxPath ?? "tmux";
  }

  private readonly tmuxPath: string;
  onError: ((err: Error) => void) | undefined;
  /** Called when the control-mode client fails (it is started again on a later call). */
  onControlFailure: ((err: Error) => void) | undefined;

  /** The control-mode client for the hot path, once enableControl() was called (the server). */
  private control: TmuxControl | undefined;
  private controlWanted = false;
  private controlStartedAt = 0;

  /**
   * Sends the hot-path commands (send-keys, the check-and-type, a pane's state) through a
   * persistent control-mode client instead of a tmux process each (control.ts). It starts after
   * a plain tmux call succeeded, so it never brings up a tmux server of its own.
   */
  enableControl(): void {
    this.controlWanted = true;
  }

  /** Stops the control-mode client. Safe to call twice. */
  closeControl(): void {
    this.controlWanted = false;
    this.control?.close();
    this.control = undefined;
  }

  /** Commands through the control client when it runs, else one tmux process for them all. */
  private async fast(commands: TmuxCommand[], readOnly = false): Promise<string> {
    const c = this.control;
    if (c?.alive && !commands.some((cmd) => cmd.some((a) => a.includes("\0")))) {
      try {
        return await c.run(commands);
      } catch (err) {
        // tmux's own refusal (no such pane...) reads the same as from a tmux process. A client
        // that failed under the commands is said once; a read is asked again through a tmux
        // process, anything else is not retried: tmux may have run it (keys sent twice).
        if (err instanceof ControlError) {
          this.onControlFailure?.(err);
          if (readOnly) return this.run(chain(...commands));
        }
        throw new TmuxError((err as Error).message, commands[0]?.[0] ?? "");
      }
    }
    const out = await this.run(chain(...commands));
    if (this.controlWanted && !this.control?.alive && Date.now() - this.controlStartedAt > 1000) {
      this.controlStartedAt = Date.now();
      this.control = new TmuxControl(this.tmuxPath, this.socket, this.env);
      this.control.start();
    }
    return out;
  }

  /** The argv a human runs to reach this socket (used for attach commands). */
  get baseArgv(): string[] {
    return [this.tmuxPath, "-L", this.socket];
  }

  run(args: string[], input?: string): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const child = execFile(
        this.tmuxPath,
        ["-u", "-L", this.socket, "-f", "/dev/null", ...args],
        { env: this.env, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (err, stdout, stderr) => {
          if (err) {
            const msg = (stderr || err.message).trim();
            reject(new TmuxError(msg, args[0] ?? ""));
          } else resolvePromise(stdout);
        },
      );
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(input ?? "");
    });
  }

  /**
   * Types text through a tmux paste buffer filled from stdin, so the text never appears on any
   * command line (/proc/<pid>/cmdline). Used for secrets. -d deletes the buffer after pasting;
   * -r keeps LF as LF.
   */
  async pasteText(target: string, text: string): Promise<void> {
    if (!text) return;
    const name = `ssh-mcp-${process.pid}-${Date.now()}`;
    await this.run(["load-buffer", "-b", name, "-"], text);
    await this.run(["paste-buffer", "-d", "-r", "-b", name, "-t", target]);
  }

  async hasServer(): Promise<boolean> {
    try {
      await this.run(["list-sessions", "-F", "#{session_name}"]);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends text literally (no key-name lookup), in chunks under tmux's message limit; named
   * `firstKeys` go before it in the same invocation.
   */
  async sendLiteral(target: string, text: string, firstKeys: string[] = []): Promise<void> {
    await this.sendCommands(literalCommands(target, text, firstKeys));
  }

  /** Runs send-keys commands (literalCommands), batched under tmux's message limit. */
  async sendCommands(cmds: TmuxCommand[]): Promise<void> {
    if (this.control?.alive) {
      await this.fast(cmds);
      return;
    }
    // Several small commands go in one invocation; large text is split across invocations.
    let batch: TmuxCommand[] = [];
    let size = 0;
    for (const cmd of cmds) {
      const len = cmd.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
      if (batch.length && size + len > 12_000) {
        await this.run(chain(...batch));
        batch = [];
        size = 0;
      }
      batch.push(cmd);
      size += len;
    }
    if (batch.length) await this.run(chain(...batch));
  }

  /**
   * Runs `commands` only if `condition` (a tmux format, evaluated against `target`) is true: in
   * one tmux process, the check and the send are one step in the tmux server (if-shell -F), so
   * nothing can change in between; over the control client, two lines in a row (see below).
   * Resolves true when they ran; false when the condition was false or the pane is gone
   * (nothing ran). The commands must fit one message (see fitsOneMessage).
   */
  async runIf(target: string, condition: string, commands: TmuxCommand[]): Promise<boolean> {
    const gone = (err: unknown): boolean =>
      err instanceof TmuxError && /can't find|no server running/.test(err.message);
    if (this.control?.alive) {
      // Never if-shell over the control client: tmux 3.3a's server crashed when a control
      // client went while a branch it had queued was pending (2 in 250 kill rounds; without
      // if-shell, none). Check, then type: two lines on the open pipe, so the window between
      // them is well under a millisecond (a lock set in it is honoured from the next input on).
      let ok: string;
      try {
        ok = await this.fast([["display-message", "-p", "-t", target, `#{pane_id}:${condition}`]], true);
      } catch (err) {
        if (gone(err)) return false;
        throw err;
      }
      // display-message does not fail on a gone target (it answers for no pane): the answer must
      // name the target. True as if-shell -F has it: neither empty nor 0.
      const [pane, value = ""] = ok.trim().split(/:(.*)/s);
      if (pane !== target || value === "" || value === "0") return false;
      await this.fast(commands);
      return true;
    }
    let out: string;
    try {
      out = await this.run([
        "if-shell",
        "-F",
        "-t",
        target,
        condition,
        commandString(commands),
        `display-message -p ${NOT_RUN}`,
      ]);
    } catch (err) {
      // Target resolution fails before anything runs.
      if (gone(err)) return false;
      throw err;
    }
    return !out.includes(NOT_RUN);
  }

  async sendKeys(target: string, keys: string[]): Promise<void> {
    await this.fast([["send-keys", "-t", target, ...keys]]);
  }

  /** Captures the pane: `start` lines of history (negative) through the visible screen. */
  async capture(target: string, opts: { start?: number; ansi?: boolean } = {}): Promise<string> {
    const args = ["capture-pane", "-p", "-J", "-t", target];
    if (opts.start !== undefined) args.push("-S", String(opts.start));
    if (opts.ansi) args.push("-e");
    return this.run(args);
  }

  async paneInfo(target: string): Promise<PaneInfo | undefined> {
    try {
      const out = await this.fast([["display-message", "-p", "-t", target, PANE_FORMAT]], true);
      const info = parsePaneLine(out.trim());
      // Over the control client a gone target is no error (the fields come back empty): only the
      // target's own line counts.
      return info && (!target.startsWith("%") || info.paneId === target) ? info : undefined;
    } catch (err) {
      if (err instanceof TmuxError) {
        this.onError?.(err);
        return undefined;
      }
      throw err;
    }
  }

  /** Every pane on the socket with the given extra format fields appended (tab separated). */
  async listPanes(extra: string[] = []): Promise<{ info: PaneInfo; extra: string[] }[]> {
    let out: string;
    try {
      out = await this.run(["list-panes", "-a", "-F", [PANE_FORMAT, ...extra].join(SEP)]);
    } catch {
      return [];
    }
    const rows: { info: PaneInfo; extra: string[] }[] = [];
    for (const line of out.split("\n")) {
      const info = parsePaneLine(line);
      if (info) rows.push({ info, extra: line.split(SEP).slice(PANE_FIELDS) });
    }
    return rows;
  }

  async killSession(name: string): Promise<void> {
    try {
      await this.run(["kill-session", "-t", `=${name}`]);
    } catch {
      // Already gone: closing is idempotent.
    }
  }

  async killServer(): Promise<void> {
    try {
      await this.run(["kill-server"]);
    } catch {
      // No server: nothing to stop.
    }
  }
}

export class TmuxError extends SshMcpError {
  constructor(
    readonly stderr: string,
    command: string,
  ) {
    super("TMUX_ERROR", `tmux ${command} failed: ${stderr}. Check that tmux is installed (ssh-mcp doctor).`);
  }
}
