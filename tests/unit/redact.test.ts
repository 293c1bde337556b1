import fc from "fast-check";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Redactor, redactValues } from "../../src/transcript/redact.js";
import type { TranscriptEvent } from "../../src/transcript/writer.js";
import { pollUntil } from "../fixtures/poll.js";

describe("redactValues", () => {
  it.each([
    ["password=hunter2", "password=[REDACTED]"],
    ["token=abc.def", "token=[REDACTED]"],
    ["api_key='k-123'", "api_key=[REDACTED]"],
    ["client_secret=xyz", "client_secret=[REDACTED]"],
    ["login ok, passwd: hunter2 (expires)", "login ok, passwd: [REDACTED] (expires)"],
    ["Authorization: Bearer eyJhbGciOi.abc.def", "Authorization: Bearer [REDACTED]"],
  ])("%s -> %s", (input, expected) => {
    expect(redactValues(input)).toBe(expected);
  });

  it("redacts a quoted value with a space entirely and keeps the key", () => {
    const out = redactValues('PASSWORD: "s3cr3t x"');
    expect(out).toMatch(/^PASSWORD: "?\[REDACTED\]"?$/);
    expect(out).not.toContain("s3cr3t");
  });

  it("redacts every occurrence on a line", () => {
    const out = redactValues("user=bob password=a1 token=b2");
    expect(out).toBe("user=bob password=[REDACTED] token=[REDACTED]");
  });

  it.each(["user=bob", "passwords are hard", "tokens: none", "Bearer short", ""])(
    "leaves %j unchanged",
    (t) => {
      expect(redactValues(t)).toBe(t);
    },
  );

  // Found while testing: key names that are common in env/printenv output and JSON logs.
  it.each([
    "DB_PASSWORD=hunter2",
    "GITHUB_TOKEN=hunter2",
    "AWS_SECRET_ACCESS_KEY=hunter2",
    '{"password": "hunter2"}',
  ])("redacts the value in %s", (t) => {
    expect(redactValues(t)).not.toContain("hunter2");
  });
});

describe("Redactor", () => {
  const KEY_LINES = [
    "-----BEGIN OPENSSH PRIVATE KEY-----\r\n",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\r\n",
    "QyNTUxOQAAACDk3mM0pZ1o9m3n0aXlR5q8l2yVYh0w2s1o1l2o3p4q5rAAAAJgVb2zXFW9s\r\n",
    "AAAAC3NzaC1lZDI1NTE5AAAAIOTeYzSlnWj2befRpeVHmryXbJViHTDazWjWXajenirmsAAA\r\n",
    "-----END OPENSSH PRIVATE KEY-----\r\n",
    "after\r\n",
  ];

  it("masks a private key block fed line by line", () => {
    const r = new Redactor();
    const out = KEY_LINES.map((l) => r.line(l)).join("");
    for (const body of KEY_LINES.slice(1, 4)) expect(out).not.toContain(body.trim());
    expect(out).toContain("-----BEGIN OPENSSH PRIVATE KEY-----");
    expect(out).toContain("-----END OPENSSH PRIVATE KEY-----");
    expect(out).toContain("after\r\n");
    expect(out.split("[REDACTED PRIVATE KEY]").length - 1).toBe(1);
  });

  it("goes back to value redaction after the block", () => {
    const r = new Redactor();
    for (const l of KEY_LINES.slice(0, 5)) r.line(l);
    expect(r.line("password=hunter2\r\n")).toBe("password=[REDACTED]\r\n");
  });

  it("masks a key block on a single line", () => {
    const r = new Redactor();
    const out = r.line("x -----BEGIN RSA PRIVATE KEY-----MIIEabc-----END RSA PRIVATE KEY----- y\n");
    expect(out).not.toContain("MIIEabc");
    expect(out).toContain("[REDACTED PRIVATE KEY]");
    expect(out).toContain("-----END RSA PRIVATE KEY----- y\n");
    expect(r.line("next\n")).toBe("next\n");
  });

  it("redacts a block exactly as it redacts its lines one by one", () => {
    const line = fc.oneof(
      fc.constantFrom(
        ...KEY_LINES,
        "password=hunter2\n",
        'x {"api_key": "v"}\n',
        "Authorization: Bearer abcdefghij\n",
      ),
      fc.string({ maxLength: 40 }).map((t) => t.replace(/\n/g, "") + "\n"),
    );
    fc.assert(
      fc.property(fc.array(fc.array(line, { maxLength: 12 }), { maxLength: 4 }), (blocks) => {
        const byLine = new Redactor();
        const byBlock = new Redactor();
        for (const b of blocks) {
          expect(byBlock.block(b.join(""))).toBe(b.map((l) => byLine.line(l)).join(""));
        }
      }),
    );
    // The fast path: a block with no trigger word comes back as it is.
    const plain = Array.from({ length: 1000 }, (_, i) => `${i}\r\n`).join("");
    expect(new Redactor().block(plain)).toBe(plain);
  });

  it("redacts values on ordinary lines and leaves other lines alone", () => {
    const r = new Redactor();
    expect(r.line("token=abc\n")).toBe("token=[REDACTED]\n");
    expect(r.line("-----BEGIN PUBLIC KEY-----\n")).toBe("-----BEGIN PUBLIC KEY-----\n");
    expect(r.line("MIIBIjANBgkq\n")).toBe("MIIBIjANBgkq\n");
  });
});

describe("tap --redact", () => {
  const TAP = resolve("dist/transcript/tap.js");
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sshmcp-redact-"));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  });

  function recv(path: string): TranscriptEvent[] {
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TranscriptEvent)
      .filter((e) => e.dir === "recv");
  }

  function recvText(path: string): string {
    return recv(path)
      .map((e) => e.text as string)
      .join("");
  }

  function startTap(args: string[]) {
    const child = spawn(process.execPath, [TAP, ...args], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res, rej) => {
      child.on("error", rej);
      child.on("exit", (code) => res(code));
    });
    const write = (text: string) =>
      new Promise<void>((res, rej) => child.stdin.write(text, (err) => (err ? rej(err) : res())));
    return { child, exited, write, stderr: () => stderr };
  }

  it("redacts a secret split across two reads", async () => {
    const path = join(dir, "r.jsonl");
    const tap = startTap(["--redact", path, "r1"]);
    // The tap opens the transcript just before it starts reading stdin: once the file exists,
    // the two writes below reach it as separate reads (unless the machine stalls > HOLD_MS).
    await pollUntil(() => existsSync(path), { message: "tap started" });
    await tap.write("pass");
    await tap.write("word=hunter2\r\nok\r\n");
    tap.child.stdin.end();
    await pollUntil(() => recvText(path).includes("ok\r\n"), { message: "transcript complete" });
    expect(await tap.exited).toBe(0);
    expect(tap.stderr()).toBe("");
    const text = recvText(path);
    expect(text).toContain("password=[REDACTED]");
    expect(text).not.toContain("hunter2");
    expect(text).toBe("password=[REDACTED]\r\nok\r\n");
  });

  it("passes the text unchanged without --redact", async () => {
    const path = join(dir, "p.jsonl");
    const tap = startTap([path, "p1"]);
    await tap.write("pass");
    // Unredacted, each read is written at once: the first write is its own event.
    await pollUntil(() => recv(path).length === 1, { message: "first recv written" });
    await tap.write("word=hunter2\r\nok\r\n");
    tap.child.stdin.end();
    await pollUntil(() => recvText(path).includes("ok\r\n"), { message: "transcript complete" });
    expect(await tap.exited).toBe(0);
    expect(tap.stderr()).toBe("");
    expect(recv(path).map((e) => e.text)).toEqual(["pass", "word=hunter2\r\nok\r\n"]);
  });
});
