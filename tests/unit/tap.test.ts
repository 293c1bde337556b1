import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TranscriptEvent } from "../../src/transcript/writer.js";
import { pollUntil } from "../support/poll.js";

const TAP = resolve("dist/transcript/tap.js");

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-tap-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

function events(path: string): TranscriptEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TranscriptEvent);
}

function startTap(path: string, sid: string) {
  const child = spawn(process.execPath, [TAP, path, sid], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res, rej) => {
    child.on("error", rej);
    child.on("exit", (code) => res(code));
  });
  return { child, exited, stderr: () => stderr };
}

describe("tap", () => {
  it("keeps a character split across two reads whole (no U+FFFD)", async () => {
    const path = join(dir, "s1.jsonl");
    const { child, exited } = startTap(path, "s1");
    const text = "hello 你好, world ✓ 😀\r\n";
    const bytes = Buffer.from(text, "utf8");
    const cut = bytes.indexOf(Buffer.from("你")) + 2; // two of its three bytes
    child.stdin.write(bytes.subarray(0, cut));
    // Wait until the tap has handled the first part, so the second arrives as a separate read.
    await pollUntil(() => events(path).some((e) => e.dir === "recv"), { message: "first recv written" });
    expect(
      events(path)
        .filter((e) => e.dir === "recv")
        .map((e) => e.text),
    ).toEqual(["hello "]);
    // The recorder names itself first: the server checks that pid (docs/audit.md).
    expect(events(path)[0]).toMatchObject({ dir: "event", event: "recorder", pid: child.pid });
    child.stdin.end(bytes.subarray(cut));
    expect(await exited).toBe(0);
    const recv = events(path).filter((e) => e.dir === "recv");
    expect(recv.length).toBeGreaterThanOrEqual(2);
    expect(recv.every((e) => e.session_id === "s1")).toBe(true);
    const joined = recv.map((e) => e.text).join("");
    expect(joined).toBe(text);
    expect(joined).not.toContain("\ufffd");
  });

  it("splits an emoji across three reads", async () => {
    const path = join(dir, "s2.jsonl");
    const { child, exited } = startTap(path, "s2");
    const bytes = Buffer.from("a😀b", "utf8"); // a, 4 bytes, b
    child.stdin.write(bytes.subarray(0, 2));
    await pollUntil(() => events(path).filter((e) => e.dir === "recv").length === 1, {
      message: "first recv written",
    });
    child.stdin.write(bytes.subarray(2, 4));
    child.stdin.end(bytes.subarray(4));
    expect(await exited).toBe(0);
    const joined = events(path)
      .map((e) => e.text)
      .join("");
    expect(joined).toBe("a😀b");
  });

  it("refuses to run without its arguments", async () => {
    const { exited, stderr } = startTap("", "");
    expect(await exited).toBe(2);
    expect(stderr()).toMatch(/usage/);
  });
});
