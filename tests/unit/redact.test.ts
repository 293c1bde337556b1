import fc from "fast-check";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mayHoldSecret, Redactor, redactText, redactValues } from "../../src/transcript/redact.js";
import type { TranscriptEvent } from "../../src/transcript/writer.js";
import { pollUntil } from "../support/poll.js";
import { INNOCENT, SECRETS, type SecretCase } from "../support/secrets-corpus.js";

describe("redactValues", () => {
  it.each([
    ["password=hunter2", "password=[REDACTED]"],
    ["token=abc.def", "token=[REDACTED]"],
    ["api_key='k-123'", "api_key='[REDACTED]'"],
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

/** grep --color's wrapping of a match. */
const colour = (s: string) => `\x1b[01;31m\x1b[K${s}\x1b[m\x1b[K`;

describe("redaction corpus", () => {
  it("has enough cases, each secret inside its text", () => {
    expect(SECRETS.length).toBeGreaterThanOrEqual(40);
    expect(new Set(SECRETS.map((c) => c.name)).size).toBe(SECRETS.length);
    for (const c of SECRETS) expect(c.text, c.name).toContain(c.secret);
  });

  const cases = SECRETS.map((c) => [c.name, c] as [string, SecretCase]);

  it.each(cases)("%s: masked by redactValues and by a Redactor, whole", (_name, c) => {
    expect(redactValues(c.text)).not.toContain(c.secret);
    expect(redactValues(c.text)).toContain("[REDACTED");
    const out = new Redactor().block(c.text.replace(/\n/g, "\r\n") + "\r\n");
    expect(out).not.toContain(c.secret);
    expect(out.endsWith("\r\n")).toBe(true);
  });

  it.each(cases)("%s: masked when split across two reads, wherever the cut", (_name, c) => {
    const text = c.text + "\n";
    for (let cut = 1; cut < text.length; cut++) {
      const r = new Redactor();
      // The first read is let go unfinished (the tap after HOLD_MS), the rest comes later.
      const out = r.line(text.slice(0, cut)) + r.block(text.slice(cut));
      expect(out, `cut at ${cut}`).not.toContain(c.secret);
    }
  });

  it.each(cases)("%s: masked when the value comes late, alone, after its key", (_name, c) => {
    const at = c.text.indexOf(c.secret);
    const r = new Redactor();
    const out = r.line(c.text.slice(0, at)) + r.block(c.text.slice(at) + "\r\n");
    expect(out).not.toContain(c.secret);
    expect(out).toContain("[REDACTED");
  });

  it.each(cases)("%s: masked with colours around the key (or the token), colours kept", (_name, c) => {
    const key = c.key ?? c.secret;
    const at = c.text.indexOf(key);
    const text = c.text.slice(0, at) + colour(key) + c.text.slice(at + key.length);
    for (const out of [redactValues(text), new Redactor().block(text + "\r\n")]) {
      expect(out).not.toContain(c.secret);
      expect(out).toContain("\x1b[01;31m\x1b[K");
      expect(out).toContain("\x1b[m\x1b[K");
    }
  });

  it.each(INNOCENT.map((t) => [t]))("leaves %j unchanged, with or without colours", (t) => {
    expect(redactValues(t)).toBe(t);
    expect(new Redactor().block(t + "\r\n")).toBe(t + "\r\n");
    const coloured = colour(t.slice(0, 8)) + t.slice(8);
    expect(redactValues(coloured)).toBe(coloured);
  });
});

describe("colours", () => {
  it("finds a key word grep coloured, and keeps every colour", () => {
    const line = "config:\x1b[01;31m\x1b[Kpassword\x1b[m\x1b[K=hunter2\r\n";
    expect(new Redactor().line(line)).toBe("config:\x1b[01;31m\x1b[Kpassword\x1b[m\x1b[K=[REDACTED]\r\n");
  });

  it("finds a key word split by colours (grep matched part of it)", () => {
    const out = redactValues("pas\x1b[01;31m\x1b[Ksword\x1b[m\x1b[K=hunter2");
    expect(out).toBe("pas\x1b[01;31m\x1b[Ksword\x1b[m\x1b[K=[REDACTED]");
  });

  it("puts the mask inside the value's colours", () => {
    expect(redactValues("password=\x1b[32mhunter2\x1b[0m ok")).toBe("password=\x1b[32m[REDACTED]\x1b[0m ok");
  });

  it("reads rows a full-screen program drew with cursor moves apart and together, and keeps every move", () => {
    // Row 1 ends with a key's value, row 2 starts right after a cursor move (no line break). Read
    // together (as a token wrapped across rows must be), the value runs on into row 2's first
    // word, which is masked too: over-masking a word rather than risking a token's second half.
    const screen = "\x1b[1;1Hpassword=hunter2\x1b[2;1Hnext row\x1b[3;5Hpassword:\x1b[2Cs3cr3tvalue";
    const out = redactValues(screen);
    expect(out).not.toContain("hunter2");
    expect(out).toBe("\x1b[1;1Hpassword=[REDACTED]\x1b[2;1H row\x1b[3;5Hpassword:\x1b[2C[REDACTED]");
    // A secret drawn at the end of a row is not read on into the next row, and is found whole.
    const aws = "aws_secret_access_key = FAKETD/2U3OpSH5r44wLzwTGV6HJYq/EEyUqj37X";
    expect(redactValues(`\x1b[4;1H${aws}\x1b[5;1Hmore`)).not.toContain(
      "FAKETD/2U3OpSH5r44wLzwTGV6HJYq/EEyUqj37X",
    );
  });

  it("reads an overstrike as what it shows (less's wrap, man's bold), so a token split by one is found", () => {
    const key =
      "sk-proj-FAKEA3LbAloqiXBOucuxghD3w0k_togSgwl2N1MFHK1KJBmkugpGtCNmn-T3BlbkFJ4nf1r9D9QUpa_lmI5b1rarFSt23cTUQSynsuv2h3p_0AtWcYYR2ZKkFZvg";
    // less wraps a long line at the margin with a space and a backspace.
    const wrapped = `${key.slice(0, 100)} \b${key.slice(100)}\r\n`;
    const out = new Redactor().line(wrapped);
    expect(out.replace(/ \x08/g, "")).not.toContain(key.slice(60));
    expect(redactValues("p\bpa\bas\bss\bsw\bwo\bor\brd\bd=hunter2")).not.toContain("hunter2");
  });

  it("never puts back an overstruck character inside a mask: a bold secret stays masked", () => {
    const key =
      "sk-proj-FAKEA3LbAloqiXBOucuxghD3w0k_togSgwl2N1MFHK1KJBmkugpGtCNmn-T3BlbkFJ4nf1r9D9QUpa_lmI5b1rarFSt23cTUQSynsuv2h3p_0AtWcYYR2ZKkFZvg";
    const bold = (text: string): string => [...text].map((c) => `${c}\b${c}`).join("");
    for (const line of [`token: ${bold(key)}`, `password=${bold("hunter2secret")}`, bold(key)]) {
      const out = redactValues(line);
      expect(out).toContain("[REDACTED");
      // Read as a terminal shows it (each overstrike shows its last character): nothing of the secret.
      const shown = out.replace(/.\x08/g, "");
      expect(shown).not.toContain("hunter2");
      expect(shown).not.toContain(key.slice(20, 40));
    }
  });

  it("finds a token a program drew across two rows with a cursor move, and keeps the move", () => {
    const key =
      "sk-proj-FAKEA3LbAloqiXBOucuxghD3w0k_togSgwl2N1MFHK1KJBmkugpGtCNmn-T3BlbkFJ4nf1r9D9QUpa_lmI5b1rarFSt23cTUQSynsuv2h3p_0AtWcYYR2ZKkFZvg";
    const out = redactValues(`\x1b[5;1H${key.slice(0, 80)}\x1b[6;1H${key.slice(80)}`);
    expect(out).not.toContain(key.slice(0, 40));
    expect(out).not.toContain(key.slice(80));
    expect(out).toContain("\x1b[6;1H");
    const env = redactValues(`export TOKEN=${"a1B2c3D4e5".repeat(3)}\x1b[45G${"f6G7h8".repeat(3)}`);
    expect(env).not.toContain("f6G7h8");
  });

  it("finds a key word whose colours a pager printed as text (ESC[... and ^[[...)", () => {
    expect(
      redactValues(
        "ESC[01;31mESC[Kaws_secret_access_keyESC[mESC[K = FAKETD/2U3OpSH5r44wLzwTGV6HJYq/EEyUqj37X",
      ),
    ).not.toContain("FAKETD/2U3OpSH5r44wLzwTGV6HJYq/EEyUqj37X");
    expect(redactValues("^[[1mpassword^[[0m=hunter2")).toBe("^[[1mpassword^[[0m=[REDACTED]");
    // less prints the ESC itself in standout.
    const so = (seq: string): string => `\x1b[7mESC\x1b[27m${seq}`;
    expect(redactValues(`${so("[01;31m")}${so("[K")}password${so("[m")}${so("[K")}=hunter2`)).not.toContain(
      "hunter2",
    );
  });

  it("masks a secret in a window title", () => {
    const out = redactValues("\x1b]0;deploy token=hunter2\x07$ ");
    expect(out).not.toContain("hunter2");
    expect(out).toBe("\x1b]0;deploy token=[REDACTED]\x07$ ");
  });
});

describe("late values", () => {
  it("masks a value that comes after its key was let go, however late", () => {
    const r = new Redactor();
    expect(r.line("password=")).toBe("password=");
    expect(r.block("hunter2\r\nnext password=x\r\n")).toBe("[REDACTED]\r\nnext password=[REDACTED]\r\n");
  });

  it("adds no second mask when the value goes on after a masked part", () => {
    const r = new Redactor();
    expect(r.line("token=abc")).toBe("token=[REDACTED]");
    expect(r.line("def")).toBe("");
    expect(r.block(" ok\r\n")).toBe(" ok\r\n");
  });

  it("follows a line let go in several pieces, colours included", () => {
    const r = new Redactor();
    const out = [r.line("\x1b[1mDB_PASS"), r.line("WORD\x1b[0m: "), r.block("hunter2\r\n")].join("");
    expect(out).toBe("\x1b[1mDB_PASSWORD\x1b[0m: [REDACTED]\r\n");
  });

  it("forgets the open line at its end", () => {
    const r = new Redactor();
    r.line("password:");
    r.block("\r\n");
    expect(r.block("hunter2\r\n")).toBe("hunter2\r\n");
  });

  it("masks a URL password whose @ has not come yet", () => {
    const r = new Redactor();
    const out = r.line("postgres://app:hunter2") + r.block("@db/app\r\n");
    expect(out).toBe("postgres://app:[REDACTED]@db/app\r\n");
  });
});

describe("prefilter", () => {
  it("lets ordinary output through without a look", () => {
    for (const t of [
      "-rw-r--r-- 1 deploy deploy 1234 May  1 12:00 README.md",
      "2024-05-01T10:00:00.123Z INFO request GET /api/v1/items?page=2 200 12ms",
      "Author: Jane Doe <jane@example.com>",
      "/dev/sda1        98G   10G   80G  11% /var/lib/docker",
    ])
      expect(mayHoldSecret(t), t).toBe(false);
  });

  it("looks at every line a secret could be on", () => {
    for (const c of SECRETS)
      for (const line of c.text.split("\n")) {
        if (line.includes(c.secret)) expect(mayHoldSecret(line), c.name).toBe(true);
      }
  });

  it("redacts a long block in one pass as it redacts its lines", () => {
    const lines = [...INNOCENT, ...SECRETS.map((c) => c.text)]
      .flatMap((t) => t.split("\n"))
      .map((l) => l + "\r\n");
    const byLine = new Redactor();
    const expected = lines.map((l) => byLine.line(l)).join("");
    expect(new Redactor().block(lines.join(""))).toBe(expected);
    for (const c of SECRETS) expect(expected).not.toContain(c.secret);
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

  it("masks a value that comes more than HOLD_MS after its key, on the same line", async () => {
    const path = join(dir, "late.jsonl");
    const tap = startTap(["--redact", path, "late1"]);
    await pollUntil(() => existsSync(path), { message: "tap started" });
    await tap.write("\x1b[01;31m\x1b[Kpassword\x1b[m\x1b[K=");
    // The tap lets the unfinished line go after HOLD_MS (100 ms): wait until it has.
    await pollUntil(() => recv(path).length === 1, { message: "key let go" });
    await new Promise((r) => setTimeout(r, 400));
    await tap.write("hunter2\r\nok\r\n");
    tap.child.stdin.end();
    await pollUntil(() => recvText(path).includes("ok\r\n"), { message: "transcript complete" });
    expect(await tap.exited).toBe(0);
    const text = recvText(path);
    expect(text).not.toContain("hunter2");
    expect(text).toBe("\x1b[01;31m\x1b[Kpassword\x1b[m\x1b[K=[REDACTED]\r\nok\r\n");
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

describe("redactValues: a page that starts inside a key block", () => {
  it("masks the body above an END line whose BEGIN scrolled off", () => {
    const body =
      "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIK";
    const out = redactValues(`${body}\n-----END OPENSSH PRIVATE KEY-----\n$ ls`);
    expect(out).not.toContain("b3BlbnNzaC1rZXkt");
    expect(out).not.toContain("AAAAC3NzaC1lZDI1");
    expect(out).toContain("-----END OPENSSH PRIVATE KEY-----\n$ ls");
    // A whole block, and text without a key, are as before.
    expect(redactValues("ls\n$ ")).toBe("ls\n$ ");
  });
});

describe("ssh-mcp's own masks", () => {
  it("leaves a declared secret's mask [SECRET:name] as it is, and still masks a value after SECRET:", () => {
    expect(redactText("running: [SECRET:pw]")).toBe("running: [SECRET:pw]");
    expect(redactText("<[SECRET:sudo_pw]> SECRET: hunter2xyz")).toBe("<[SECRET:sudo_pw]> SECRET: [REDACTED]");
    // Not our shape (a value with more than a name in it): masked.
    expect(redactText("[SECRET:hunter2 x]")).not.toContain("hunter2");
  });
});
