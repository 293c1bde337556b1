import { EventEmitter } from "node:events";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  watch,
  type FSWatcher as FSWatcherNode,
} from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { watch as watchTree, type FSWatcher as TreeWatcher } from "chokidar";
import { eachLine, isRecvLine } from "../transcript/reader.js";
import type { TranscriptEvent } from "../transcript/writer.js";

/**
 * Every transcript under the runtime root, read incrementally: each file keeps its byte offset
 * and the offset of each line start, so a change reads only the appended bytes, and a client
 * asking for lines after N reads from the right place instead of re-reading the file (the
 * predecessor re-read whole files every 200 ms).
 *
 * Read when asked, not watched: a page or API call brings what it shows up to date (a readdir
 * and a stat per file), and only a session a client follows is watched (inotify on its file).
 * Watching every transcript (chokidar) re-read the directory on every append of every session,
 * and indexed lines nobody looked at: under heavy output that took CPU from the session's own
 * tmux, ssh and tap (docs/performance.md).
 *
 * The index page is the exception, and only while one is open (watchIndex): chokidar watches the
 * instance and transcript directories for a new transcript or instance directory, so the page can
 * show it without a reload. It announces that something appeared, nothing more; what the page
 * shows still comes from a rescan. An append costs chokidar a stat, and a re-read of that one
 * directory at most once a second; the store reads nothing for it.
 */
export interface TranscriptFile {
  path: string;
  sessionId: string;
  /** server_instance_id of the instance directory, or "legacy" for flat transcripts/. */
  instance: string;
  scope: "instance" | "legacy";
  meta: Record<string, unknown>;
  lineStarts: number[];
  /** Bytes indexed: where the last whole line ends. */
  size: number;
  lastTs: string;
  status: string;
  healthError: string | null;
}

export const SESSION_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

export class TranscriptStore extends EventEmitter {
  readonly files = new Map<string, TranscriptFile>();

  /** runtimeDir: the root with instances/ and legacy transcripts/; extraDirs: more flat dirs. */
  constructor(
    readonly runtimeDir: string,
    readonly extraDirs: string[] = [],
  ) {
    super();
    this.setMaxListeners(0);
  }

  private dirs(): { dir: string; instance: string; scope: "instance" | "legacy" }[] {
    const out: { dir: string; instance: string; scope: "instance" | "legacy" }[] = [];
    const instances = join(this.runtimeDir, "instances");
    if (existsSync(instances)) {
      for (const name of readdirSync(instances)) {
        out.push({ dir: join(instances, name, "transcripts"), instance: name, scope: "instance" });
      }
    }
    out.push({ dir: join(this.runtimeDir, "transcripts"), instance: "legacy", scope: "legacy" });
    for (const d of this.extraDirs) out.push({ dir: d, instance: "legacy", scope: "legacy" });
    return out;
  }

  private lastRescan = 0;
  /** The index watch saw a file or directory appear: the next rescan is not skipped. */
  private changed = false;

  /** Reads every transcript directory (new files and growth); at most every 100 ms unless changed. */
  rescan(): void {
    if (!this.changed && Date.now() - this.lastRescan < 100) return;
    this.changed = false;
    this.lastRescan = Date.now();
    for (const { dir } of this.dirs()) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir)) if (f.endsWith(".jsonl")) this.update(join(dir, f));
    }
  }

  /** Scans everything once; later reads bring files up to date (see the class comment). */
  start(): Promise<void> {
    this.rescan();
    return Promise.resolve();
  }

  /** A session's file, brought up to date (undefined: no such session, even after a rescan). */
  fresh(sessionId: string): TranscriptFile | undefined {
    const file = this.files.get(sessionId);
    if (file) return this.update(file.path);
    if (!SESSION_ID_RE.test(sessionId)) return undefined;
    // A session opened a moment ago: look for its file by name.
    for (const { dir } of this.dirs()) {
      const path = join(dir, `${sessionId}.jsonl`);
      if (existsSync(path)) this.update(path);
    }
    return this.files.get(sessionId);
  }

  private describe(path: string): { instance: string; scope: "instance" | "legacy" } {
    const dir = dirname(path);
    if (basename(dir) === "transcripts" && basename(dirname(dirname(dir))) === "instances") {
      return { instance: basename(dirname(dir)), scope: "instance" };
    }
    return { instance: "legacy", scope: "legacy" };
  }

  /** Reads what was appended to `path` since the last look; emits "append". */
  update(path: string): TranscriptFile | undefined {
    const sessionId = basename(path, ".jsonl");
    if (!SESSION_ID_RE.test(sessionId)) return undefined;
    let file = this.files.get(sessionId);
    // One id in two places (a legacy copy of a live session): the instance copy wins, and the
    // other is ignored rather than flipping the entry back and forth.
    if (file && file.path !== path) {
      const incoming = this.describe(path).scope;
      if (file.scope === "instance" || incoming === "legacy") return file;
    }
    if (!file || file.path !== path) {
      const { instance, scope } = this.describe(path);
      file = {
        path,
        sessionId,
        instance,
        scope,
        meta: {},
        lineStarts: [],
        size: 0,
        lastTs: "",
        status: "open",
        healthError: null,
      };
      this.files.set(sessionId, file);
    }
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return file;
    }
    if (size <= file.size) return file;
    const firstNew = file.lineStarts.length;
    let count = 0;
    const f = file;
    // Whole lines only: file.size is where the last whole line ends, and a partial one is read
    // again next time.
    file.size = eachLine(path, file.size, size, (line, start) => {
      f.lineStarts.push(start);
      // Output (recv) is most lines and tells the index nothing but its time: no parse, not even
      // a string of the line.
      if (isRecvLine(line)) {
        count++;
        const q = line.indexOf(34, TS_HEAD.length);
        if (q !== -1 && line.subarray(0, TS_HEAD.length).equals(TS_HEAD))
          f.lastTs = line.toString("latin1", TS_HEAD.length, q);
      } else {
        const ev = parseLine(line.toString("utf8"));
        if (ev) {
          count++;
          this.note(f, ev);
        }
      }
    });
    // Listeners read what they need through read(); only the fact of new lines is announced.
    if (count) this.emit("append", file.sessionId, firstNew);
    return file;
  }

  private note(file: TranscriptFile, ev: TranscriptEvent): void {
    if (typeof ev.ts === "string") file.lastTs = ev.ts;
    if (ev.dir === "session_meta") file.meta = ev;
    if (ev.dir === "session_health" && typeof ev.health_status === "string") {
      file.status = ev.health_status;
      file.healthError = typeof ev.health_error === "string" ? ev.health_error : null;
    }
    if (ev.dir === "event" && ev.event === "closed") file.status = "closed";
    if (ev.dir === "event" && ev.event === "adopted" && typeof ev.server_instance_id === "string") {
      file.meta = { ...file.meta, server_instance_id: ev.server_instance_id };
    }
  }

  /** Events from line `after` on (0-based line index), at most `max` of them and ~`maxBytes`. */
  read(
    sessionId: string,
    after: number,
    max = 5000,
    maxBytes = 4_000_000,
  ): { events: TranscriptEvent[]; next: number } {
    const file = this.files.get(sessionId);
    if (!file || after >= file.lineStarts.length)
      return { events: [], next: Math.max(after, file?.lineStarts.length ?? 0) };
    const from = file.lineStarts[after] as number;
    const lastLine = Math.min(file.lineStarts.length, after + max);
    const to = lastLine < file.lineStarts.length ? (file.lineStarts[lastLine] as number) : file.size;
    let len = Math.min(to - from, maxBytes);
    const buf = Buffer.allocUnsafe(len);
    let fd: number;
    try {
      fd = openSync(file.path, "r");
    } catch {
      return { events: [], next: after };
    }
    try {
      len = readSync(fd, buf, 0, len, from);
    } finally {
      closeSync(fd);
    }
    const events: TranscriptEvent[] = [];
    let next = after;
    let start = 0;
    const got = buf.subarray(0, len);
    for (let i = got.indexOf(10); i !== -1; i = got.indexOf(10, start)) {
      const ev = parseLine(got.subarray(start, i).toString("utf8"));
      if (ev) events.push(ev);
      next++;
      start = i + 1;
    }
    if (next === after && len > 0) next++; // one line larger than maxBytes: skip it rather than stall
    return { events, next };
  }

  /**
   * Watches one transcript closely while someone is subscribed to it (an open page, a long
   * poll): an fs.watch on the file itself plus a slow poll, so an appended line reaches the
   * client at once. Returns the unsubscribe.
   */
  follow(sessionId: string): () => void {
    const file = this.files.get(sessionId);
    if (!file) return () => undefined;
    let entry = this.followed.get(sessionId);
    if (!entry) {
      const update = (): void => void this.update(file.path);
      let watcher: FSWatcherNode | undefined;
      try {
        watcher = watch(file.path, update);
        watcher.on("error", () => undefined);
      } catch {
        watcher = undefined;
      }
      const timer = setInterval(update, 500);
      timer.unref();
      entry = { count: 0, stop: () => (watcher?.close(), clearInterval(timer)) };
      this.followed.set(sessionId, entry);
    }
    entry.count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const e = this.followed.get(sessionId);
      if (e && --e.count === 0) {
        e.stop();
        this.followed.delete(sessionId);
      }
    };
  }

  private readonly followed = new Map<string, { count: number; stop: () => void }>();

  /** Resolves when `sessionId` has lines after `after`, or after waitMs. */
  waitFor(sessionId: string, after: number, waitMs: number): Promise<void> {
    const file = this.files.get(sessionId);
    if (!file || file.lineStarts.length > after || waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const unfollow = this.follow(sessionId);
      const onAppend = (id: string): void => {
        if (id === sessionId) done();
      };
      const timer = setTimeout(() => done(), waitMs);
      const done = (): void => {
        clearTimeout(timer);
        this.off("append", onAppend);
        unfollow();
        resolve();
      };
      this.on("append", onAppend);
    });
  }

  /** server_meta.json of every instance directory. */
  instances(): Record<string, unknown>[] {
    const dir = join(this.runtimeDir, "instances");
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((name) => {
      try {
        return [
          JSON.parse(readFileSync(join(dir, name, "server_meta.json"), "utf8")) as Record<string, unknown>,
        ];
      } catch {
        return [];
      }
    });
  }

  private index: IndexWatch | undefined;

  /**
   * Calls `listener` when a transcript or an instance directory appears (events within
   * INDEX_SETTLE_MS come as one call), including while a new watch takes its first look. The
   * directories are watched from the first listener to the last one's unsubscribe (or close());
   * the unsubscribe is safe to call twice.
   */
  watchIndex(listener: () => void): () => void {
    const index = (this.index ??= this.startIndexWatch());
    // A wrapper of its own: the same function subscribed twice is two subscriptions.
    const entry = (): void => listener();
    index.listeners.add(entry);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      index.listeners.delete(entry);
      if (index.listeners.size === 0 && this.index === index) void this.stopIndexWatch();
    };
  }

  private startIndexWatch(): IndexWatch {
    const instancesDir = resolve(this.runtimeDir, "instances");
    const flatDirs = [resolve(this.runtimeDir, "transcripts"), ...this.extraDirs.map((d) => resolve(d))];
    // chokidar 4 has no globs: it watches the directories, and `ignored` keeps it to their
    // layout (instances/<id>/transcripts/*.jsonl, <flat dir>/*.jsonl). A directory that does not
    // exist yet is watched for from its parent.
    // Not ignoreInitial: a file written while chokidar takes its first look would count as there
    // before, though the listener's first rows (read just before) lacked it; and its 'ready',
    // which could close that gap, comes at once when a watched directory does not exist yet
    // (chokidar 4.0.3). The first look's events cost a round of rows per INDEX_SETTLE_MS.
    const watcher = watchTree([instancesDir, ...flatDirs], {
      ignoreInitial: false,
      depth: 2,
      ignored: (path, stats) => outsideLayout(resolve(path), stats, instancesDir, flatDirs),
    });
    const index: IndexWatch = { watcher, listeners: new Set(), timer: undefined };
    const appeared = (): void => {
      this.changed = true;
      index.timer ??= setTimeout(() => {
        index.timer = undefined;
        for (const listener of [...index.listeners]) listener();
      }, INDEX_SETTLE_MS);
    };
    watcher.on("add", appeared);
    watcher.on("addDir", appeared);
    // An unwatchable directory (permissions, inotify limits) costs the page its live updates,
    // not the server: a reload still shows everything.
    watcher.on("error", () => undefined);
    return index;
  }

  private async stopIndexWatch(): Promise<void> {
    const index = this.index;
    if (!index) return;
    this.index = undefined;
    clearTimeout(index.timer);
    index.listeners.clear();
    await index.watcher.close();
  }

  async close(): Promise<void> {
    for (const e of this.followed.values()) e.stop();
    this.followed.clear();
    await this.stopIndexWatch();
  }
}

/** How long the index watch gathers events before telling its listeners. */
const INDEX_SETTLE_MS = 100;

interface IndexWatch {
  watcher: TreeWatcher;
  listeners: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Whether the index watch leaves `path` alone: anything but instance directories, their
 * transcripts/ and *.jsonl files in those and in the flat directories. `stats` is there only
 * sometimes; without it the name decides. A path above every root (a parent watched while a root
 * does not exist yet) is watched.
 */
function outsideLayout(
  path: string,
  stats: { isDirectory(): boolean } | undefined,
  instancesDir: string,
  flatDirs: string[],
): boolean {
  const dir = stats ? stats.isDirectory() : undefined;
  const jsonl = (name: string | undefined): boolean => Boolean(name?.endsWith(".jsonl")) && dir !== true;
  const inside = (root: string): string[] | undefined => {
    const rel = relative(root, path);
    if (rel === "") return [];
    return rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? undefined : rel.split(sep);
  };
  const parts = inside(instancesDir);
  if (parts) {
    if (parts.length === 0) return false;
    if (parts.length === 1) return dir === false;
    if (parts[1] !== "transcripts") return true;
    if (parts.length === 2) return dir === false;
    return !(parts.length === 3 && jsonl(parts[2]));
  }
  for (const root of flatDirs) {
    const flat = inside(root);
    if (flat) return !(flat.length === 0 || (flat.length === 1 && jsonl(flat[0])));
  }
  return false;
}

/** How TranscriptWriter (and the tap) start every line: the time comes first. */
const TS_HEAD = Buffer.from('{"ts":"');

function parseLine(line: string): TranscriptEvent | undefined {
  if (!line) return undefined;
  try {
    return JSON.parse(line) as TranscriptEvent;
  } catch {
    return undefined;
  }
}
