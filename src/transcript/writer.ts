import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { SshMcpError } from "../errors.js";
import { dirname } from "node:path";

/**
 * Appends whole JSON lines to a session transcript. The tap process and the server both append
 * to the same file; each line goes out in one write(2) on an O_APPEND descriptor, which the
 * kernel keeps whole and in order, so lines never interleave.
 */
export interface TranscriptEvent {
  ts: string;
  session_id: string;
  dir: string;
  [field: string]: unknown;
}

export class TranscriptWriter {
  private fd: number | undefined;
  /** The last write failed part way: the next one starts with a line break (see docs/audit.md). */
  private torn = false;
  /** Why the last write failed (disk full, permissions, I/O), until a write succeeds again. */
  error: Error | undefined;
  /** The next write looks at the file's end first (see write). */
  checkTail = false;
  /** Told when writing starts failing, and when it works again (error undefined). */
  onHealth: ((error: Error | undefined) => void) | undefined;

  constructor(
    readonly path: string,
    readonly sessionId: string,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, "a", 0o600);
    // Not checked here: another writer's line may be half in the file this very moment. A
    // torn end is looked for after a failure (write), and before a recorder is replaced.
  }

  /**
   * Appends one event. A failure never throws here (a health event must not break what writes
   * it): it is kept in `error` and told to onHealth. Input goes through mustWrite instead.
   */
  write(dir: string, fields: Record<string, unknown> = {}): TranscriptEvent {
    const event: TranscriptEvent = {
      ts: new Date().toISOString(),
      session_id: this.sessionId,
      dir,
      ...fields,
    };
    if (this.fd === undefined) return event;
    // After a failure (ours, or the other writer's: the recorder may have died mid-line), look
    // at the file's end first: a torn line is ended before this one.
    if (this.error || this.checkTail) {
      this.torn ||= !endsWithNewline(this.path);
      this.checkTail = false;
    }
    const line = Buffer.from((this.torn ? "\n" : "") + JSON.stringify(event) + "\n", "utf8");
    try {
      const n = writeSync(this.fd, line);
      if (n < line.length) {
        this.torn = true;
        throw Object.assign(new Error(`short write (${n} of ${line.length} bytes)`), { code: "ENOSPC" });
      }
      this.torn = false;
      if (this.error) {
        this.error = undefined;
        this.onHealth?.(undefined);
      }
    } catch (err) {
      // A write that failed with nothing written leaves the line as it was.
      const first = !this.error;
      this.error = err as Error;
      if (first) this.onHealth?.(this.error);
    }
    return event;
  }

  /** Appends one event, or throws TRANSCRIPT_UNAVAILABLE: what is typed is recorded first. */
  mustWrite(dir: string, fields: Record<string, unknown> = {}): TranscriptEvent {
    const event = this.write(dir, fields);
    if (this.error) {
      throw new SshMcpError(
        "TRANSCRIPT_UNAVAILABLE",
        `The transcript ${this.path} cannot be written (${describe(this.error)}). Nothing was sent: no input goes in unrecorded. Free space or fix the runtime directory's permissions; the session resumes by itself (docs/audit.md).`,
      );
    }
    return event;
  }

  /** Opens the file again after close(), for an event after the session ended (reopen). */
  reopenForAppend(): void {
    if (this.fd !== undefined) return;
    this.fd = openSync(this.path, "a", 0o600);
    this.checkTail = true;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** An error's code and message, short. */
export function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message.replace(/^[A-Z]+: /, "")}` : err.message;
}

/** Whether a file is empty or ends in a line break (else its last line is torn). */
function endsWithNewline(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const b = Buffer.alloc(1);
    return readSync(fd, b, 0, 1, size - 1) === 1 && b[0] === 10;
  } catch {
    return true;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
