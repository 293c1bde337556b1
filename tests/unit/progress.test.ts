import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { SshMcpError } from "../../src/errors.js";
import {
  lastLine,
  MAX_MESSAGE,
  progressMessage,
  ProgressReporter,
  withProgress,
  type Followed,
} from "../../src/session/progress.js";
import { OutputStream } from "../../src/session/stream.js";

/** The progress logic on fake timers: a fake session (a stream and its watchers), no tmux. */
const TOKEN = "ghp_FAKEaUB73cojFZS1COqkUAV3q4WZwmT2OxHT";

function fakeSession(): Followed & { print(text: string): void } {
  const stream = new OutputStream();
  const watchers = new Set<() => void>();
  return {
    stream,
    watch: (fn) => {
      watchers.add(fn);
      return () => watchers.delete(fn);
    },
    print(text) {
      stream.append(text, Date.now());
      for (const w of [...watchers]) w();
    },
  } as Followed & { print(text: string): void };
}

function recorder() {
  const sent: { progress: number; message: string; at: number }[] = [];
  return {
    sent,
    fn: (progress: number, message: string) => sent.push({ progress, message, at: Date.now() }),
  };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe("ProgressReporter", () => {
  it("throttles flowing output to one notification per 500 ms, the newest line last", () => {
    const r = recorder();
    const s = fakeSession();
    const p = new ProgressReporter(r.fn, 5000);
    p.follow(s, "running");
    s.print("line1\n");
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]?.message).toBe("running: line1");
    for (let i = 2; i <= 5; i++) {
      vi.advanceTimersByTime(100);
      s.print(`line${i}\n`);
    }
    expect(r.sent).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(r.sent).toHaveLength(2);
    expect(r.sent[1]?.message).toBe("running: line5");
    expect((r.sent[1]?.at ?? 0) - (r.sent[0]?.at ?? 0)).toBe(500);
    p.close();
  });

  it("sends a heartbeat while quiet, saying for how long", () => {
    const r = recorder();
    const s = fakeSession();
    const p = new ProgressReporter(r.fn, 500);
    p.follow(s, "running");
    s.print("started\n");
    vi.advanceTimersByTime(2600);
    expect(r.sent.map((n) => n.at - 1_000_000)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(r.sent[2]?.message).toBe("running (no output for 1 s): started");
    expect(r.sent[5]?.message).toBe("running (no output for 2 s): started");
    p.close();
  });

  it("never repeats or lowers a progress value, even within one millisecond", () => {
    const r = recorder();
    const p = new ProgressReporter(r.fn, 5000);
    p.step("connecting");
    p.step("logging in");
    p.step("route step 1/2: waiting for 'Target:'");
    vi.advanceTimersByTime(1234);
    p.step("checking the shell");
    const values = r.sent.map((n) => n.progress);
    expect(values).toEqual([0.001, 0.002, 0.003, 1.234]);
    p.close();
  });

  it("stops everything on close", () => {
    const r = recorder();
    const s = fakeSession();
    const p = new ProgressReporter(r.fn, 200);
    const stop = p.follow(s, "running");
    s.print("a\n");
    s.print("b\n");
    stop();
    p.close();
    expect(vi.getTimerCount()).toBe(0);
    s.print("c\n");
    vi.advanceTimersByTime(10_000);
    expect(r.sent).toHaveLength(1);
  });
});

describe("withProgress", () => {
  it("without a progress function runs the work with no timer and no watch", async () => {
    const s = fakeSession();
    const watch = vi.spyOn(s, "watch");
    const got = await withProgress(undefined, { config: config(100) }, s, "running", async (p) => {
      expect(p).toBeUndefined();
      expect(vi.getTimerCount()).toBe(0);
      return 42;
    });
    expect(got).toBe(42);
    expect(watch).not.toHaveBeenCalled();
  });

  it("with one, follows the session during the work and stops after it, also on failure", async () => {
    const r = recorder();
    const s = fakeSession();
    const work = withProgress(r.fn, { config: config(300) }, s, "running", async () => {
      s.print("working\n");
      await vi.advanceTimersByTimeAsync(1000);
      throw new Error("boom");
    });
    await expect(work).rejects.toThrow("boom");
    expect(r.sent.length).toBeGreaterThanOrEqual(3);
    expect(vi.getTimerCount()).toBe(0);
    const n = r.sent.length;
    s.print("later\n");
    vi.advanceTimersByTime(5000);
    expect(r.sent).toHaveLength(n);
  });
});

describe("progress messages", () => {
  it("are at most 200 characters, a long line keeping its tail", () => {
    const line = "x".repeat(500) + "END";
    const m = progressMessage("running", line);
    expect(m.length).toBeLessThanOrEqual(MAX_MESSAGE);
    expect(m.startsWith("running: …")).toBe(true);
    expect(m.endsWith("xEND")).toBe(true);
    const long = progressMessage("waiting for " + "y".repeat(400), "line");
    expect(long.length).toBeLessThanOrEqual(MAX_MESSAGE);
  });

  it("are redacted, in the line and in the state", () => {
    const m = progressMessage(`waiting for "${TOKEN}"`, `remote: ${TOKEN}`);
    expect(m).not.toContain(TOKEN);
    expect(m).not.toContain("FAKEaUB73coj");
    expect(m).toContain("[REDACTED]");
    // A token near the end of a long line: redacted before the line is cut.
    const tail = progressMessage("running", "z".repeat(300) + ` token=${TOKEN} done`);
    expect(tail).not.toContain("FAKEaUB73coj");
    expect(tail.length).toBeLessThanOrEqual(MAX_MESSAGE);
  });

  it("show the last non-empty line, cleaned, without ssh-mcp's wrapper echo", () => {
    expect(lastLine("\x1b[31mred\x1b[0m text\n\n  \n")).toBe("red text");
    expect(lastLine(" __mcp_b 0123&&command eval 'ls';__mcp_e $?\r\n")).toBe("");
    expect(lastLine("50%\r75%\r100%\n")).toBe("100%");
    expect(lastLine("a\x07b\x00c\n")).toBe("abc");
  });

  it("cut a token-like run at the end of a line still being printed", () => {
    // Only part of the token has arrived: redaction cannot recognise it yet.
    expect(lastLine(`remote: ${TOKEN.slice(0, 24)}`)).toBe("remote: …");
    expect(lastLine(`remote: ${TOKEN.slice(0, 24)}\n`)).not.toContain("…");
    expect(lastLine("Downloading 45% [=====>   ]")).toBe("Downloading 45% [=====>   ]");
  });

  it("carry no control characters", () => {
    const m = progressMessage("run\nning", "a\tb");
    expect(m).not.toMatch(/[\x00-\x1f]/);
  });
});

function config(heartbeatMs: number) {
  return { timing: { progressHeartbeatMs: heartbeatMs } } as never;
}

describe("throttle and heartbeat together", () => {
  it("a heartbeat carries the change the throttle held back (no second notification right after)", () => {
    const r = recorder();
    const s = fakeSession();
    const p = new ProgressReporter(r.fn, 500);
    p.follow(s, "running");
    s.print("one\n");
    vi.advanceTimersByTime(200);
    s.print("two\n");
    vi.advanceTimersByTime(300);
    expect(r.sent.map((n) => n.message)).toEqual(["running: one", "running: two"]);
    vi.advanceTimersByTime(499);
    expect(r.sent).toHaveLength(2);
    p.close();
  });
});

describe("SSH_MCP_PROGRESS_HEARTBEAT_MS", () => {
  it("defaults to 5000 and accepts 100..10000 only", () => {
    const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-progress-"));
    try {
      const load = (v?: string) =>
        loadConfig(
          { config: join(dir, "none.json"), runtimeDir: dir },
          v === undefined ? {} : { SSH_MCP_PROGRESS_HEARTBEAT_MS: v },
          dir,
        ).timing.progressHeartbeatMs;
      expect(load()).toBe(5000);
      expect(load("100")).toBe(100);
      expect(load("10000")).toBe(10_000);
      for (const bad of ["99", "10001", "1.5", "soon"]) {
        let err: unknown;
        try {
          load(bad);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(SshMcpError);
        expect((err as SshMcpError).code).toBe("CONFIG_ERROR");
        expect((err as SshMcpError).message).toContain(">= 100 and <= 10000");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("declared secrets in progress", () => {
  it("masks a value in the line before the line is cut to fit (no part of it shows)", () => {
    const value = "Zq8-value-of-a-declared-secret";
    const r = recorder();
    const s = fakeSession();
    const p = new ProgressReporter(r.fn, 5000, (l) => l.split(value).join("[SECRET:pw]"));
    p.follow(s, "running");
    // The cut to 200 characters would fall inside the value.
    s.print(`${value}${"x".repeat(185)}\n`);
    const message = r.sent[0]?.message ?? "";
    expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    expect(message).not.toContain("declared-secret");
    expect(message).not.toContain("cret"); // the tail a cut would have left: "...ecret"
    p.close();
  });
});
