import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher } from "node:fs";
import { SshMcpError } from "../errors.js";
import type { TranscriptEvent } from "./writer.js";

/**
 * Reads the last `n` JSON lines of a transcript, reading backwards in blocks. A line that is not
 * JSON (torn by a failed write, docs/audit.md) is skipped and counted in `stats.skipped`.
 */
export function tailEvents(
  path: string,
  n: number,
  maxBytes = 64 * 1024 * 1024,
  stats?: { skipped: number },
): TranscriptEvent[] {
  if (n <= 0) return [];
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return [];
  }
  try {
    const size = statSync(path).size;
    const block = 256 * 1024;
    let pos = size;
    const chunks: Buffer[] = [];
    let read = 0;
    let newlines = 0;
    // Stop at maxBytes too: a caller can only use so much (replies are capped anyway).
    while (pos > 0 && newlines <= n && read < maxBytes) {
      const len = Math.min(block, pos);
      pos -= len;
      const chunk = Buffer.allocUnsafe(len);
      readSync(fd, chunk, 0, len, pos);
      for (let i = 0; i < len; i++) if (chunk[i] === 10) newlines++;
      chunks.push(chunk);
      read += len;
    }
    const buf = Buffer.concat(chunks.reverse());
    const lines = buf.toString("utf8").split("\n").filter(Boolean);
    if (pos > 0) lines.shift(); // the first line may be cut
    return lines.slice(-n).flatMap((l) => {
      const ev = parseLine(l);
      if (!ev.length && stats) stats.skipped++;
      return ev;
    });
  } finally {
    closeSync(fd);
  }
}

function parseLine(line: string): TranscriptEvent[] {
  try {
    return [JSON.parse(line) as TranscriptEvent];
  } catch {
    return [];
  }
}

/**
 * Follows a transcript from a byte offset: inotify (fs.watch) wakes it on every append, a slow
 * poll covers filesystems where watching does not work. Emits whole parsed lines in order.
 */
export class TranscriptFollower {
  private offset: number;
  private partial = Buffer.alloc(0);
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private fd: number | undefined;
  private closed = false;
  /** One read buffer for the follower's life: allocating per wake-up cost more than the parsing. */
  private readonly buf = Buffer.allocUnsafe(1024 * 1024);

  constructor(
    readonly path: string,
    private readonly onEvent: (event: TranscriptEvent, endOffset: number) => void,
    opts: { fromOffset?: number; pollMs?: number } = {},
  ) {
    this.offset = opts.fromOffset ?? 0;
    try {
      this.watcher = watch(path, () => this.drain());
      this.watcher.on("error", () => undefined);
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(() => this.drain(), opts.pollMs ?? 200);
    this.timer.unref();
  }

  get position(): number {
    return this.offset;
  }

  /** Byte offset of the first line not yet passed on (the start of a partial line, if any). */
  get lineStart(): number {
    return this.offset - this.partial.length;
  }

  /** Reads everything appended since the last call; safe to call any time. */
  drain(): void {
    if (this.closed) return;
    try {
      this.fd ??= openSync(this.path, "r");
      const buf = this.buf;
      for (;;) {
        const n = readSync(this.fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        let data = this.partial.length
          ? Buffer.concat([this.partial, buf.subarray(0, n)])
          : buf.subarray(0, n);
        const base = this.offset - data.length;
        let start = 0;
        for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, start)) {
          const lineEnd = base + i + 1;
          const line = data.subarray(start, i).toString("utf8");
          start = i + 1;
          for (const ev of parseLine(line)) this.onEvent(ev, lineEnd);
        }
        data = data.subarray(start);
        this.partial = Buffer.from(data);
      }
    } catch {
      // The file may not exist yet, or was removed: the next wake-up tries again.
    }
  }

  close(): void {
    if (this.closed) return;
    this.drain();
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

const RECV_MARK = Buffer.from('"dir":"recv"');

/**
 * Whether a transcript line is output (`recv`), from its bytes, without a parse. Exact: inside a
 * JSON string a quote is escaped, so this text can only be the event's own `dir` field.
 */
export function isRecvLine(line: Buffer): boolean {
  return line.indexOf(RECV_MARK) !== -1;
}

/**
 * Calls `onLine` with every whole line of a transcript from byte `from` (a line start) up to
 * byte `to` (default: the end), with the line's byte span. Returns the offset after the last
 * whole line read. One buffer for the whole walk: a partial line moves to its front and the
 * next read goes after it (concatenating per block was most of the time on a large file). The
 * line passed is a view of that buffer: use it before returning.
 */
export function eachLine(
  path: string,
  from: number,
  to: number | undefined,
  onLine: (line: Buffer, start: number, end: number) => void,
): number {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return from;
  }
  let buf: Buffer;
  try {
    // Sized to the span, from 16 kB up to 1 MB (most transcripts are small, and adoption reads
    // every one: docs/performance.md); it grows for a longer line.
    const span = (to ?? fstatSync(fd).size) - from;
    buf = Buffer.allocUnsafe(Math.min(1024 * 1024, Math.max(16 * 1024, span)));
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let offset = from;
  let keep = 0;
  try {
    for (;;) {
      if (keep === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, keep);
        buf = bigger;
      }
      const want = to === undefined ? buf.length - keep : Math.min(buf.length - keep, to - offset);
      if (want <= 0) break;
      const n = readSync(fd, buf, keep, want, offset);
      if (n <= 0) break;
      offset += n;
      const len = keep + n;
      const base = offset - len;
      const view = buf.subarray(0, len);
      let start = 0;
      for (let i = view.indexOf(10); i !== -1; i = view.indexOf(10, start)) {
        onLine(view.subarray(start, i), base + start, base + i + 1);
        start = i + 1;
      }
      buf.copyWithin(0, start, len);
      keep = len - start;
    }
  } finally {
    closeSync(fd);
  }
  return offset - keep;
}

/** The output (the text of `recv` events) between two line offsets of a transcript. */
export function recvText(path: string, from: number, to: number): string {
  const parts: string[] = [];
  eachLine(path, from, to, (line) => {
    if (!isRecvLine(line)) return;
    const ev = parseLine(line.toString("utf8"))[0];
    if (typeof ev?.text === "string") parts.push(ev.text);
  });
  return parts.join("");
}

/** One page of a transcript's events, read forward from a line start (readEventsPage). */
export interface EventsPage {
  events: TranscriptEvent[];
  /** Byte offset of the first line not in this page: the `offset` of the next page. */
  next_offset: number;
  /** True when the page reached the end of what is written (a line still being written excluded). */
  end: boolean;
  /** Lines in the page's span that are not JSON (torn by a failed write): skipped, and counted. */
  skipped_lines: number;
}

/**
 * Up to `limit` whole events from byte `offset`, stopping before a line that would take the page
 * past `maxBytes` (a page always holds at least one line). `offset` must be 0 or just past a
 * newline, as every `next_offset` is: anything else is refused with the reason, so pages never
 * overlap or leave a gap. A last line without its newline (being written) is left for later.
 */
export function readEventsPage(path: string, offset: number, limit: number, maxBytes: number): EventsPage {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    // No transcript (yet, or removed by retention): nothing to read, as tailEvents.
    return { events: [], next_offset: offset, end: true, skipped_lines: 0 };
  }
  try {
    const size = fstatSync(fd).size;
    if (offset > size || (offset > 0 && !precededByNewline(fd, offset))) {
      throw new SshMcpError(
        "INVALID_ARGUMENT",
        `offset ${offset} is ${offset > size ? `past the end of the transcript (${size} bytes)` : "not the start of a transcript line"}. Start at 0, or pass the next_offset of the page before.`,
      );
    }
    const page: EventsPage = { events: [], next_offset: offset, end: false, skipped_lines: 0 };
    let lines = 0;
    let bytes = 0;
    const take = (line: Buffer, _start: number, lineEnd: number): void => {
      if (lines >= limit || (lines > 0 && bytes + line.length + 1 > maxBytes)) return;
      lines++;
      bytes += line.length + 1;
      const ev = parseLine(line.toString("utf8"));
      if (ev.length) page.events.push(...ev);
      else page.skipped_lines++;
      page.next_offset = lineEnd;
    };
    // Only the bytes a page can hold are read; a first line longer than that is read whole.
    const window = Math.min(size, offset + maxBytes);
    eachLine(path, offset, window, take);
    if (lines === 0 && window < size) eachLine(path, offset, size, take);
    page.end = page.next_offset >= lastNewlineBefore(fd, size);
    return page;
  } finally {
    closeSync(fd);
  }
}

function precededByNewline(fd: number, offset: number): boolean {
  const b = Buffer.alloc(1);
  return readSync(fd, b, 0, 1, offset - 1) === 1 && b[0] === 10;
}

/** The offset just past the file's last newline (0 when there is none), reading back from `size`. */
function lastNewlineBefore(fd: number, size: number): number {
  const b = Buffer.allocUnsafe(64 * 1024);
  for (let pos = size; pos > 0;) {
    const len = Math.min(b.length, pos);
    pos -= len;
    readSync(fd, b, 0, len, pos);
    const i = b.subarray(0, len).lastIndexOf(10);
    if (i !== -1) return pos + i + 1;
  }
  return 0;
}
