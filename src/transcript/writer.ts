import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
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

  constructor(
    readonly path: string,
    readonly sessionId: string,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, "a", 0o600);
  }

  write(dir: string, fields: Record<string, unknown> = {}): TranscriptEvent {
    const event: TranscriptEvent = {
      ts: new Date().toISOString(),
      session_id: this.sessionId,
      dir,
      ...fields,
    };
    if (this.fd === undefined) return event;
    writeSync(this.fd, Buffer.from(JSON.stringify(event) + "\n", "utf8"));
    return event;
  }

  /** Opens the file again after close(), for an event after the session ended (reopen). */
  reopenForAppend(): void {
    this.fd ??= openSync(this.path, "a", 0o600);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
