import { execFile } from "node:child_process";
import {
  captureCommand,
  chain,
  commandString,
  displayCommand,
  formatVar,
  literalCommands,
  pipePaneCommand,
  SEP,
  setOptionCommand,
  type OptionScope,
  type TmuxCommand,
} from "./command.js";
import { ControlError, TmuxControl } from "./control.js";
import { NO_FIELDS, PANE_FORMAT, parsePaneRow, type PaneFields, type PaneInfo } from "./pane-info.js";

/**
 * The tmux client: argv arrays to `tmux -L <socket>`, never a shell string, and an environment
 * without TMUX/TMUX_PANE (so a server started from inside tmux never talks to the user's own
 * tmux) and without the secrets the caller names (so they never reach the tmux server's
 * environment, which every pane inherits). It knows nothing about SSH or about its caller: the
 * caller's own pane fields (user options) and how failures reach it are options.
 */

/**
 * A copy of `env` without TMUX and TMUX_PANE: a tmux client started with them (from inside the
 * user's own tmux, or from a process started there) talks to the user's tmux server.
 */
export function withoutTmuxEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out.TMUX;
  delete out.TMUX_PANE;
  return out;
}

/** tmux refused a command or could not run: its stderr, the command's name, and the exit code. */
export class TmuxError extends Error {
  constructor(
    readonly stderr: string,
    readonly command: string,
    /** tmux's exit code; null when it did not exit with one (not started, over the control client). */
    readonly exitCode: number | null = null,
  ) {
    super(`tmux ${command} failed: ${stderr}`);
    this.name = "TmuxError";
  }
}

export interface TmuxOptions<T extends object> {
  env?: NodeJS.ProcessEnv;
  /** Variables removed from tmux's environment (so no pane inherits them). */
  secretEnvNames?: string[];
  tmuxPath?: string;
  /** The caller's fields, read with every pane's state (paneInfo, listPanes): its user options. */
  paneFields?: PaneFields<T>;
  /** What a TmuxError becomes when it leaves this client (by default, itself). */
  mapError?: (err: TmuxError) => Error;
}

/** A pane of listPanes: its state with the caller's fields, and the extra formats' values. */
export interface ListedPane<T extends object> {
  info: PaneInfo & T;
  extra: string[];
}

/** Marks an if-shell whose condition was false (its else branch prints it). */
const NOT_RUN = "ssh-mcp-not-run";

export class Tmux<T extends object = object> {
  private readonly env: NodeJS.ProcessEnv;
  /** Variables added to tmux's environment that panes should not inherit. */
  readonly injectedEnv: string[] = [];
  private readonly tmuxPath: string;
  private readonly paneFields: PaneFields<T>;
  /** PANE_FORMAT, then the caller's fields. */
  private readonly paneFormat: string;
  private readonly mapError: ((err: TmuxError) => Error) | undefined;

  constructor(
    readonly socket: string,
    opts: TmuxOptions<T> = {},
  ) {
    const env = withoutTmuxEnv(opts.env ?? process.env);
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
    // Without fields T is `object`: parse adds nothing.
    this.paneFields = opts.paneFields ?? (NO_FIELDS as PaneFields<T>);
    this.paneFormat = [PANE_FORMAT, ...this.paneFields.formats].join(SEP);
    this.mapError = opts.mapError;
  }

  /** Called with a failure that paneInfo turns into "no such pane". */
  onError: ((err: Error) => void) | undefined;
  /** Called when the control-mode client fails (it is started again on a later call). */
  onControlFailure: ((err: Error) => void) | undefined;

  /** The control-mode client for the hot path, once enableControl() was called (the server). */
  private control: TmuxControl | undefined;
  private controlWanted = false;
  private controlStartedAt = 0;

  /** A handle on one pane (or any target): the per-pane commands with its `-t` filled in. */
  pane(target: string): Pane<T> {
    return new Pane(this, target);
  }

  /** A failure as it leaves this client: a TmuxError through mapError; anything else as it is. */
  private failure(err: unknown): unknown {
    return err instanceof TmuxError && this.mapError ? this.mapError(err) : err;
  }

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
          if (readOnly) return this.exec(chain(...commands));
        }
        throw new TmuxError((err as Error).message, commands[0]?.[0] ?? "");
      }
    }
    const out = await this.exec(chain(...commands));
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

  /** One tmux process: `args` (one command, or several joined by chain), `input` on its stdin. */
  async run(args: string[], input?: string): Promise<string> {
    try {
      return await this.exec(args, input);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** run() inside this client: rejects with the TmuxError itself. */
  private exec(args: string[], input?: string): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const child = execFile(
        this.tmuxPath,
        ["-u", "-L", this.socket, "-f", "/dev/null", ...args],
        { env: this.env, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
        (err, stdout, stderr) => {
          if (err) {
            const msg = (stderr || err.message).trim();
            reject(new TmuxError(msg, args[0] ?? "", typeof err.code === "number" ? err.code : null));
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
    try {
      await this.exec(["load-buffer", "-b", name, "-"], text);
      await this.exec(["paste-buffer", "-d", "-r", "-b", name, "-t", target]);
    } catch (err) {
      throw this.failure(err);
    }
  }

  async hasServer(): Promise<boolean> {
    try {
      await this.exec(["list-sessions", "-F", "#{session_name}"]);
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
    try {
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
          await this.exec(chain(...batch));
          batch = [];
          size = 0;
        }
        batch.push(cmd);
        size += len;
      }
      if (batch.length) await this.exec(chain(...batch));
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * Runs `commands` only if `condition` (a tmux format, evaluated against `target`) is true: in
   * one tmux process, the check and the send are one step in the tmux server (if-shell -F), so
   * nothing can change in between; over the control client, two lines in a row (see below).
   * Resolves true when they ran; false when the condition was false or the pane is gone
   * (nothing ran). The commands must fit one message (see fitsOneMessage).
   */
  async runIf(target: string, condition: string, commands: TmuxCommand[]): Promise<boolean> {
    try {
      return await this.runIfInner(target, condition, commands);
    } catch (err) {
      throw this.failure(err);
    }
  }

  private async runIfInner(target: string, condition: string, commands: TmuxCommand[]): Promise<boolean> {
    const gone = (err: unknown): boolean =>
      err instanceof TmuxError && /can't find|no server running/.test(err.stderr);
    if (this.control?.alive) {
      // Never if-shell over the control client: tmux 3.3a's server crashed when a control
      // client went while a branch it had queued was pending (docs/architecture.md). Check,
      // then type: two lines on the open pipe, so the window between them is well under a
      // millisecond (a lock set in it is honoured from the next input on).
      let ok: string;
      try {
        ok = await this.fast([displayCommand(target, `#{pane_id}:${condition}`)], true);
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
      out = await this.exec([
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
    try {
      await this.fast([["send-keys", "-t", target, ...keys]]);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /**
   * Captures the pane: `start` lines of history (negative) through the visible screen; with
   * colours (`ansi`); wrapped rows joined unless `join` is false (then rows as the cursor counts
   * them).
   */
  async capture(
    target: string,
    opts: { start?: number; ansi?: boolean; join?: boolean } = {},
  ): Promise<string> {
    try {
      return await this.exec(captureCommand(target, opts));
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** The pane's state with the caller's fields; undefined when there is no such pane. */
  async paneInfo(target: string): Promise<(PaneInfo & T) | undefined> {
    try {
      const out = await this.fast([displayCommand(target, this.paneFormat)], true);
      const row = parsePaneRow(out.trim(), this.paneFields);
      // Over the control client a gone target is no error (the fields come back empty): only the
      // target's own line counts.
      return row && (!target.startsWith("%") || row.info.paneId === target) ? row.info : undefined;
    } catch (err) {
      if (err instanceof TmuxError) {
        this.onError?.(this.failure(err) as Error);
        return undefined;
      }
      throw err;
    }
  }

  /** Every pane on the socket with the caller's fields, and the given extra formats' values. */
  async listPanes(extra: string[] = []): Promise<ListedPane<T>[]> {
    let out: string;
    try {
      out = await this.exec(["list-panes", "-a", "-F", [this.paneFormat, ...extra].join(SEP)]);
    } catch {
      return [];
    }
    const rows: ListedPane<T>[] = [];
    for (const line of out.split("\n")) {
      const row = parsePaneRow(line, this.paneFields);
      if (row) rows.push(row);
    }
    return rows;
  }

  async killSession(name: string): Promise<void> {
    try {
      await this.exec(["kill-session", "-t", `=${name}`]);
    } catch {
      // Already gone: closing is idempotent.
    }
  }

  async killServer(): Promise<void> {
    try {
      await this.exec(["kill-server"]);
    } catch {
      // No server: nothing to stop.
    }
  }
}

/**
 * One pane (`%3`, or any target tmux resolves to one): the per-pane commands with its `-t`
 * filled in. A handle holds nothing but the client and the target; failures are the client's.
 */
export class Pane<T extends object = object> {
  constructor(
    readonly tmux: Tmux<T>,
    readonly target: string,
  ) {}

  /** The pane's state with the client's fields; undefined when it is gone. */
  info(): Promise<(PaneInfo & T) | undefined> {
    return this.tmux.paneInfo(this.target);
  }

  sendKeys(keys: string[]): Promise<void> {
    return this.tmux.sendKeys(this.target, keys);
  }

  /** Types `text` literally, after the named keys `firstKeys`. */
  sendLiteral(text: string, firstKeys: string[] = []): Promise<void> {
    return this.tmux.sendLiteral(this.target, text, firstKeys);
  }

  /** Types `text` through a paste buffer loaded from stdin: never on a command line. */
  paste(text: string): Promise<void> {
    return this.tmux.pasteText(this.target, text);
  }

  capture(opts: { start?: number; ansi?: boolean; join?: boolean } = {}): Promise<string> {
    return this.tmux.capture(this.target, opts);
  }

  /** Runs `commands` if `condition` (a format) holds for the pane (Tmux.runIf). */
  runIf(condition: string, commands: TmuxCommand[]): Promise<boolean> {
    return this.tmux.runIf(this.target, condition, commands);
  }

  /** An option's value as the pane sees it (its own, its window's or session's, inherited): "" if unset. */
  async option(name: string): Promise<string> {
    return (await this.tmux.run(displayCommand(this.target, formatVar(name)))).replace(/\n$/, "");
  }

  async setOption(name: string, value: string, scope: OptionScope = "pane"): Promise<void> {
    await this.tmux.run(chain(setOptionCommand(this.target, name, value, scope)));
  }

  async unsetOption(name: string, scope: OptionScope = "pane"): Promise<void> {
    await this.tmux.run(chain(setOptionCommand(this.target, name, undefined, scope)));
  }

  /**
   * Pipes the pane's output (only output with `outputOnly`) to `shellCommand` (sh -c); without
   * a command, stops the pane's pipe.
   */
  async pipe(shellCommand?: string, opts: { outputOnly?: boolean } = {}): Promise<void> {
    await this.tmux.run(chain(pipePaneCommand(this.target, shellCommand, opts)));
  }

  async kill(): Promise<void> {
    await this.tmux.run(["kill-pane", "-t", this.target]);
  }
}
