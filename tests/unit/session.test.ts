import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { capOutput } from "../../src/session/output/budget.js";
import { cleanOutput } from "../../src/session/output/clean.js";
import { beginMarker, endMarker } from "../../src/session/output/markers.js";
import { Session, type TrackedCommand } from "../../src/session/session.js";
import { TranscriptWriter } from "../../src/transcript/writer.js";

/**
 * Session's completion logic fed with output chunks directly (no tmux): each chunk is written to
 * the transcript as the tap would, then passed on as the follower would.
 */
const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-session-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function session(): Session {
  const id = `s${++n}`;
  const profile = { ...profileSchema.parse({ host: "h" }), name: "p" } as Profile;
  return new Session({
    id,
    profile,
    ownerLabel: null,
    createdAt: new Date().toISOString(),
    paneId: "%1",
    tmuxName: id,
    transcriptPath: join(dir, `${id}.jsonl`),
    writer: new TranscriptWriter(join(dir, `${id}.jsonl`), id),
    idleMs: 60_000,
  });
}

/** The text begin marker of transcripts written before the OSC 133 marks (still read). */
const legacyBegin = (nonce: string): string => `__SSHMCP_B_${nonce}__`;

function feed(s: Session, text: string): void {
  s.writer.write("recv", { text });
  s.onRecv(text, statSync(s.transcriptPath).size);
}

/** A marker command's begin marker, then `body` in chunks of `step` characters. */
function stream(s: Session, cmd: TrackedCommand, body: string, step: number): void {
  feed(s, `${legacyBegin(cmd.nonce)}\r\n`);
  for (let i = 0; i < body.length; i += step) feed(s, body.slice(i, i + step));
}

/** Output past a command's hold (512 kB): 300000 numbered lines, 2.3 MB. */
const LONG = Array.from({ length: 300_000 }, (_, i) => `${i}\r\n`).join("");

/** The end marker of `cmd` with exit status `code`, as the shell prints it. */
function end(s: Session, cmd: TrackedCommand, code = 0, after = ""): void {
  feed(s, `\r\n__SSHMCP_E_${cmd.nonce}_${code}__\r\n${after}`);
}

/** Lines of output as a terminal sends them: CRLF, colours, progress redraws, tabs, CJK. */
const line = fc
  .array(
    fc.constantFrom(
      "x",
      "42",
      " ",
      "\t",
      "中文",
      "😀",
      "\x1b[31m",
      "\x1b[0m",
      "\r",
      "\r\x1b[K",
      "\b",
      "\x07",
      "é",
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join("") + "\r\n");

describe("Session: a marker command's output", () => {
  it("is the same whether cleaned as it streams in or all at once, however the chunks fall", () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 30_000 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 20 }),
        (lines, repeat, sizes) => {
          const s = session();
          const cmd = s.newCommand("cmd", "marker");
          // Enough output to cross the 64 kB cleaning step several times.
          const body = lines.join("").repeat(Math.ceil(repeat / lines.length));
          const raw = `${legacyBegin(cmd.nonce)}\r\n${body}\r\n__SSHMCP_E_${cmd.nonce}_0__\r\n$ `;
          for (let i = 0, k = 0; i < raw.length; k++) {
            const size = sizes[k % sizes.length] as number;
            feed(s, raw.slice(i, i + size));
            i += size;
          }
          expect(cmd.result.status).toBe("completed");
          expect(cmd.result.exit_code).toBe(0);
          const want = cleanOutput(body);
          expect(s.cappedOutput(cmd, 64_000)).toEqual(capOutput(want, 64_000));
          expect(s.currentOutput(cmd)).toBe(want);
          s.writer.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it("reads the same while the command is still running, holding little of the raw output", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const body = Array.from({ length: 200_000 }, (_, i) => `\x1b[32m${i}\x1b[0m\r\n`).join("");
    stream(s, cmd, body, 4096);
    expect(cmd.result.status).toBe("running");
    const st = cmd.capture.state;
    expect(st.kind === "streaming" && st.cleaned.length).toBeGreaterThan(1_000_000);
    // 3.6 MB came; what is cleaned is not held raw as well.
    expect(body.length).toBeGreaterThan(3_000_000);
    expect(s.stream.kept).toBeLessThan(1_200_000);
    expect(s.cappedOutput(cmd, 64_000)).toEqual(capOutput(cleanOutput(body), 64_000));
    expect(s.currentOutput(cmd)).toBe(cleanOutput(body));
    s.writer.close();
  });

  it("a long output is held as its head and tail, and read again whole when asked", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const body = LONG;
    stream(s, cmd, body, 7000);
    end(s, cmd, 0, "$ ");
    feed(s, "more output after the prompt\r\n");
    const want = cleanOutput(body);
    expect(cmd.result.status).toBe("completed");
    // Not held whole: the reply comes from head and tail, the length from the digest.
    expect(cmd.result.output).toBe("");
    expect(s.cappedOutput(cmd, 64_000)).toEqual(capOutput(want, 64_000));
    const done = readFileSync(s.transcriptPath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { dir: string; output_chars?: number })
      .find((e) => e.dir === "command_complete");
    expect(done?.output_chars).toBe(want.length);
    // Paging reads it whole, once.
    expect(s.currentOutput(cmd)).toBe(want);
    expect(cmd.result.output).toBe(want);
    // One long output is held whole at a time: paging through another lets the first go.
    const cmd2 = s.newCommand("cmd2", "marker");
    const body2 = body.replaceAll("\r\n", "-2\r\n");
    stream(s, cmd2, body2, 7000);
    end(s, cmd2, 0, "$ ");
    expect(s.currentOutput(cmd2)).toBe(cleanOutput(body2));
    expect(cmd.result.output).toBe("");
    expect(s.currentOutput(cmd)).toBe(want);
    expect(cmd2.result.output).toBe("");
    s.writer.close();
  });

  it("a long line with no line break is searched once, and comes out whole", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const line = "x".repeat(2_000_000);
    stream(s, cmd, line, 4096);
    // The text searched in vain is remembered: the next chunk searches only what is new.
    const st = cmd.capture.state;
    expect(st.kind === "streaming" && st.noBreakTo).toBeGreaterThan(line.length - 10_000);
    feed(s, `\r\nafter\r\n\r\n__SSHMCP_E_${cmd.nonce}_0__\r\n`);
    expect(s.currentOutput(cmd)).toBe(`${line}\nafter\n`);
    s.writer.close();
  });

  it("a long output finished without its end marker (cancelled) keeps a digest too", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const body = LONG;
    stream(s, cmd, body, 7000);
    s.finish(cmd, "cancelled", "timeout", null);
    const want = cleanOutput(body);
    expect(cmd.result.output).toBe("");
    expect(s.cappedOutput(cmd, 64_000)).toEqual(capOutput(want, 64_000));
    expect(s.currentOutput(cmd)).toBe(want);
    s.writer.close();
  });

  it("a long output whose transcript is gone still answers from its digest", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const body = LONG;
    stream(s, cmd, body, 7000);
    end(s, cmd, 0);
    s.writer.close();
    rmSync(s.transcriptPath);
    expect(s.currentOutput(cmd)).toBe("");
    expect(s.cappedOutput(cmd, 64_000)).toEqual(capOutput(cleanOutput(body), 64_000));
  });

  it("keeps the line break before a late marker of a nested shell out, as cleaning the whole does", () => {
    const s = session();
    const cmd = s.newCommand("cmd", "marker");
    const filler = "y\r\n".repeat(40_000);
    const body = `${filler}__SSHMCP_E_0123456789abcdef_0__\r\n${filler}`;
    feed(s, `${legacyBegin(cmd.nonce)}\r\n`);
    // The chunk ends where the last line break more than 64 characters back is the one before
    // the late marker: the cut would fall right there.
    const cut = filler.length + 80;
    feed(s, body.slice(0, cut));
    feed(s, body.slice(cut));
    end(s, cmd, 3);
    expect(cmd.result.exit_code).toBe(3);
    expect(s.currentOutput(cmd)).toBe(cleanOutput(body));
    s.writer.close();
  });

  it("reads the invisible OSC 133 marks: output between C and D, exit status from D, however the chunks fall", () => {
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 0, max: 255 }),
        (lines, sizes, code) => {
          const s = session();
          const cmd = s.newCommand("cmd", "marker");
          const body = lines.join("");
          const raw = ` __mcp_b ${cmd.nonce}&&command eval 'cmd';__mcp_e $?\r\n${beginMarker(cmd.nonce)}${body}${endMarker(cmd.nonce, code)}$ `;
          for (let i = 0, k = 0; i < raw.length; k++) {
            const size = sizes[k % sizes.length] as number;
            feed(s, raw.slice(i, i + size));
            i += size;
          }
          expect(cmd.result).toMatchObject({ status: "completed", completion: "marker", exit_code: code });
          expect(s.currentOutput(cmd)).toBe(cleanOutput(body));
          s.writer.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});
