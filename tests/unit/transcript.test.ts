import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  eachLine,
  isRecvLine,
  recvText,
  tailEvents,
  TranscriptFollower,
} from "../../src/transcript/reader.js";
import { TranscriptWriter, type TranscriptEvent } from "../../src/transcript/writer.js";
import { pollUntil } from "../support/poll.js";

const DIST_WRITER = resolve("dist/transcript/writer.js");

let dir: string;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-transcript-"));
});

afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

function readLines(path: string): string[] {
  return readFileSync(path, "utf8").split("\n").slice(0, -1);
}

function follow(path: string, opts: { fromOffset?: number } = {}) {
  const events: TranscriptEvent[] = [];
  const ends: number[] = [];
  const f = new TranscriptFollower(
    path,
    (ev, end) => {
      events.push(ev);
      ends.push(end);
    },
    { pollMs: 20, ...opts },
  );
  cleanups.push(() => f.close());
  return { f, events, ends };
}

describe("TranscriptWriter", () => {
  it("writes one JSON object per line with ts, session_id, dir and the fields", () => {
    const path = join(dir, "sub", "s1.jsonl");
    const w = new TranscriptWriter(path, "s1");
    const ev = w.write("send", { tool: "send_text", text: 'a "quoted"\nline 中文 😀', actor: "agent" });
    w.write("event", { event: "opened" });
    w.close();
    expect(ev).toMatchObject({ session_id: "s1", dir: "send", tool: "send_text" });
    const lines = readLines(path);
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0] ?? "") as TranscriptEvent;
    expect(first).toEqual(ev);
    expect(first.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(first.text).toBe('a "quoted"\nline 中文 😀');
    expect(JSON.parse(lines[1] ?? "")).toMatchObject({ dir: "event", event: "opened" });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("appends to an existing file and ignores writes after close", () => {
    const path = join(dir, "s.jsonl");
    const a = new TranscriptWriter(path, "s");
    a.write("recv", { text: "1" });
    a.close();
    a.write("recv", { text: "lost" });
    const b = new TranscriptWriter(path, "s");
    b.write("recv", { text: "2" });
    b.close();
    expect(readLines(path).map((l) => (JSON.parse(l) as TranscriptEvent).text)).toEqual(["1", "2"]);
  });
});

describe("tailEvents", () => {
  it("returns the last n events in order", () => {
    const path = join(dir, "t.jsonl");
    const w = new TranscriptWriter(path, "t");
    for (let i = 0; i < 100; i++) w.write("recv", { seq: i });
    w.close();
    expect(tailEvents(path, 5).map((e) => e.seq)).toEqual([95, 96, 97, 98, 99]);
    expect(tailEvents(path, 1000).map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(tailEvents(path, 0)).toEqual([]);
  });

  it("reads across its 256 KiB blocks without losing or cutting lines", () => {
    const path = join(dir, "big.jsonl");
    const w = new TranscriptWriter(path, "big");
    const pad = "中".repeat(100) + "x".repeat(97);
    for (let i = 0; i < 3000; i++) w.write("recv", { seq: i, text: pad });
    w.close();
    expect(statSync(path).size).toBeGreaterThan(2 * 256 * 1024);
    for (const n of [1, 700, 1500, 2999, 3000]) {
      const evs = tailEvents(path, n);
      expect(evs.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => 3000 - n + i));
      expect(evs.every((e) => e.text === pad)).toBe(true);
    }
  });

  it("stops reading back at maxBytes, returning whole lines of the most recent part", () => {
    const path = join(dir, "capped.jsonl");
    const w = new TranscriptWriter(path, "capped");
    const pad = "中".repeat(100) + "x".repeat(97);
    for (let i = 0; i < 6000; i++) w.write("recv", { seq: i, text: pad });
    w.close();
    const size = statSync(path).size;
    const lineBytes = size / 6000;
    expect(size).toBeGreaterThan(4 * 256 * 1024);
    const seqs = (maxBytes?: number) => tailEvents(path, 6000, maxBytes).map((e) => e.seq as number);
    const all = seqs();
    expect(all).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    let previous = 0;
    for (const maxBytes of [1, 300 * 1024, 600 * 1024]) {
      const got = seqs(maxBytes);
      // A contiguous run ending at the newest event, every line whole.
      expect(got.length).toBeGreaterThan(previous);
      expect(got.length).toBeLessThan(6000);
      expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 6000 - got.length + i));
      expect(tailEvents(path, 6000, maxBytes).every((e) => e.text === pad)).toBe(true);
      // Reads whole 256 KiB blocks: no more than maxBytes rounded up to a block.
      const blocks = Math.max(1, Math.ceil(maxBytes / (256 * 1024)));
      expect(got.length * lineBytes).toBeLessThanOrEqual(blocks * 256 * 1024);
      previous = got.length;
    }
    // Whole blocks: any cap up to one block reads exactly one.
    expect(seqs(256 * 1024)).toEqual(seqs(1));
    // n still wins when it asks for less.
    expect(tailEvents(path, 3, 1).map((e) => e.seq)).toEqual([5997, 5998, 5999]);
    // A cap larger than the file changes nothing.
    expect(seqs(size * 2)).toEqual(all);
  });

  it("returns nothing for a missing file and skips a torn last line", () => {
    expect(tailEvents(join(dir, "missing.jsonl"), 10)).toEqual([]);
    const path = join(dir, "torn.jsonl");
    const w = new TranscriptWriter(path, "x");
    w.write("recv", { seq: 1 });
    w.close();
    appendFileSync(path, '{"ts":"t","session_id":"x","dir":"re');
    expect(tailEvents(path, 10).map((e) => e.seq)).toEqual([1]);
  });
});

describe("TranscriptFollower", () => {
  it("delivers appended lines in order with their end offsets", async () => {
    const path = join(dir, "f.jsonl");
    const w = new TranscriptWriter(path, "f");
    cleanups.push(() => w.close());
    w.write("recv", { seq: 0 });
    const { events, ends } = follow(path);
    for (let i = 1; i < 50; i++) w.write("recv", { seq: i });
    await pollUntil(() => events.length >= 50, { message: "follower got 50 events" });
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(ends.at(-1)).toBe(statSync(path).size);
    w.write("recv", { seq: 50 });
    await pollUntil(() => events.length === 51, { message: "follower got event 50" });
    expect(events[50]?.seq).toBe(50);
  });

  it("starts from a byte offset", async () => {
    const path = join(dir, "o.jsonl");
    const w = new TranscriptWriter(path, "o");
    w.write("recv", { seq: 0 });
    w.write("recv", { seq: 1 });
    const offset = statSync(path).size;
    w.write("recv", { seq: 2 });
    w.close();
    const { f, events } = follow(path, { fromOffset: offset });
    f.drain();
    expect(events.map((e) => e.seq)).toEqual([2]);
    expect(f.position).toBe(statSync(path).size);
  });

  it("joins a line written in two partial writes, even inside a multi-byte character", async () => {
    const path = join(dir, "p.jsonl");
    writeFileSync(path, "");
    const { f, events } = follow(path);
    const line = Buffer.from(
      JSON.stringify({ ts: "t", session_id: "p", dir: "recv", text: "前后 😀 ok" }) + "\n",
    );
    const cut = line.indexOf(Buffer.from("后")) + 1; // inside the 3-byte character
    appendFileSync(path, line.subarray(0, cut));
    await pollUntil(() => f.position === cut, { message: "follower read the first part" });
    expect(events).toHaveLength(0);
    appendFileSync(path, line.subarray(cut));
    await pollUntil(() => events.length === 1, { message: "follower got the joined line" });
    expect(events[0]?.text).toBe("前后 😀 ok");
  });

  it("waits for a file that does not exist yet", async () => {
    const path = join(dir, "later.jsonl");
    const { events } = follow(path);
    const w = new TranscriptWriter(path, "l");
    w.write("recv", { seq: 7 });
    w.close();
    await pollUntil(() => events.length === 1, { message: "follower picked up the new file" });
    expect(events[0]?.seq).toBe(7);
  });

  it("skips a corrupt line and goes on", async () => {
    const path = join(dir, "c.jsonl");
    writeFileSync(path, 'not json\n{"ts":"t","session_id":"c","dir":"recv","seq":1}\n');
    const { f, events } = follow(path);
    f.drain();
    expect(events.map((e) => e.seq)).toEqual([1]);
  });

  it("stops delivering after close", () => {
    const path = join(dir, "x.jsonl");
    const w = new TranscriptWriter(path, "x");
    const { f, events } = follow(path);
    w.write("recv", { seq: 1 });
    f.close(); // drains once more
    expect(events.map((e) => e.seq)).toEqual([1]);
    w.write("recv", { seq: 2 });
    w.close();
    f.drain();
    expect(events).toHaveLength(1);
  });
});

describe("concurrent writers", () => {
  it("4 processes appending 2000 lines each at once never interleave", async () => {
    const path = join(dir, "shared.jsonl");
    const script = `
      import { TranscriptWriter } from ${JSON.stringify(pathToFileURL(DIST_WRITER).href)};
      const [path, who] = process.argv.slice(1);
      // Start writing only when the parent says go, so all four write at the same time.
      await new Promise((res) => process.stdin.once("data", res));
      process.stdin.destroy();
      const w = new TranscriptWriter(path, "shared");
      const pad = "中文😀".repeat(80) + "x".repeat(200);
      for (let i = 0; i < 2000; i++) w.write("recv", { who, i, text: pad + who });
      w.close();
    `;
    const children = ["w0", "w1", "w2", "w3"].map((who) =>
      spawn(process.execPath, ["--input-type=module", "-e", script, path, who], {
        stdio: ["pipe", "ignore", "inherit"],
      }),
    );
    const exits = children.map(
      (child) =>
        new Promise<number | null>((res, rej) => {
          child.on("error", rej);
          child.on("exit", (code) => res(code));
        }),
    );
    for (const child of children) child.stdin?.write("go");
    expect(await Promise.all(exits)).toEqual([0, 0, 0, 0]);
    const lines = readLines(path);
    expect(lines).toHaveLength(8000);
    const seen = new Map<string, number[]>();
    let switches = 0;
    let prev = "";
    for (const line of lines) {
      const ev = JSON.parse(line) as TranscriptEvent & { who: string; i: number };
      if (ev.who !== prev) switches++;
      prev = ev.who;
      expect(ev.text).toBe("中文😀".repeat(80) + "x".repeat(200) + ev.who);
      const list = seen.get(ev.who) ?? [];
      list.push(ev.i);
      seen.set(ev.who, list);
    }
    expect([...seen.keys()].sort()).toEqual(["w0", "w1", "w2", "w3"]);
    // The writers really ran at once (their lines alternate), or this test proved nothing.
    expect(switches, "writers ran one after another").toBeGreaterThan(4);
    for (const list of seen.values()) expect(list).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });
});

describe("replay helpers: eachLine, isRecvLine, recvText", () => {
  it("walk whole lines with their byte spans, tell output lines without a parse, and join output text", () => {
    const path = join(dir, "t.jsonl");
    const w = new TranscriptWriter(path, "s1");
    w.write("command_start", { command_id: "c1", text: 'a "dir":"recv" lookalike' });
    w.write("recv", { text: "héllo " });
    w.write("send", { text: '{"dir":"recv"}' });
    w.write("recv", { text: "wörld\n" });
    w.close();
    // A partial last line (a write in progress) is not a line yet.
    appendFileSync(path, '{"ts":"x","session_id":"s1","dir":"recv","te');
    const spans: [number, number, boolean][] = [];
    const end = eachLine(path, 0, undefined, (line, start, stop) => {
      expect(stop - start).toBe(line.length + 1);
      spans.push([start, stop, isRecvLine(line)]);
    });
    expect(spans.map((s) => s[2])).toEqual([false, true, false, true]);
    expect(end).toBe(spans[3]?.[1]);
    expect(readFileSync(path).subarray(end).toString()).toMatch(/^\{"ts":"x"/);
    // From a line start to a line start; only output lines count.
    expect(recvText(path, 0, end)).toBe("héllo wörld\n");
    expect(recvText(path, spans[2]?.[0] as number, end)).toBe("wörld\n");
    expect(recvText(path, spans[1]?.[1] as number, spans[3]?.[0] as number)).toBe("");
    expect(recvText(join(dir, "missing.jsonl"), 0, 100)).toBe("");
  });

  it("carry lines across reads, longer than a read too", () => {
    const path = join(dir, "big.jsonl");
    const w = new TranscriptWriter(path, "s1");
    const texts = ["x".repeat(2_500_000), "short", "é".repeat(700_000), "y".repeat(1024 * 1024 - 80)];
    for (const text of texts) w.write("recv", { text });
    w.close();
    const seen: number[] = [];
    const end = eachLine(path, 0, undefined, (line) => {
      seen.push((JSON.parse(line.toString("utf8")) as { text: string }).text.length);
    });
    expect(seen).toEqual(texts.map((t) => t.length));
    expect(end).toBe(statSync(path).size);
    expect(recvText(path, 0, end)).toBe(texts.join(""));
  });
});

describe("torn lines (docs/audit.md)", () => {
  it("a writer told to look ends a torn line first; readers skip and count it", () => {
    const path = join(dir, "torn.jsonl");
    writeFileSync(
      path,
      '{"ts":"t","session_id":"s","dir":"recv","text":"a"}\n{"ts":"t","session_id":"s","dir":"re',
    );
    const w = new TranscriptWriter(path, "s");
    w.checkTail = true; // as after a failure, or before a recorder is replaced
    w.write("recv", { text: "after" });
    w.close();
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2] as string)).toMatchObject({ dir: "recv", text: "after" });
    const stats = { skipped: 0 };
    const events = tailEvents(path, 10, undefined, stats);
    expect(events.map((e) => e.text)).toEqual(["a", "after"]);
    expect(stats.skipped).toBe(1);
  });

  it("a failed write (ENOSPC: /dev/full) is the writer's error, never thrown; mustWrite throws TRANSCRIPT_UNAVAILABLE", () => {
    const w = new TranscriptWriter("/dev/full", "s");
    const seen: (string | undefined)[] = [];
    w.onHealth = (e) => seen.push((e as NodeJS.ErrnoException | undefined)?.code);
    expect(() => w.write("recv", { text: "x" })).not.toThrow();
    expect((w.error as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(() => w.mustWrite("send", { text: "y" })).toThrow(/cannot be written.*Nothing was sent/);
    try {
      w.mustWrite("send", { text: "y" });
    } catch (err) {
      expect((err as { code: string }).code).toBe("TRANSCRIPT_UNAVAILABLE");
    }
    // Told once when it starts failing, not per write.
    expect(seen).toEqual(["ENOSPC"]);
    w.close();
  });
});
