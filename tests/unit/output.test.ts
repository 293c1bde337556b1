import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  beginMarker,
  capOutput,
  cleanOutput,
  findBegin,
  findEnd,
  jsonSize,
  MARKER_OVERLAP,
  pageOutput,
  wrapCommand,
} from "../../src/session/output.js";

const NONCE = "0123456789abcdef";

/** Runs a script with dash (/bin/sh) and returns its stdout; the exit status is not an error here. */
function runSh(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("sh", ["-c", script], { encoding: "utf8" }, (err, stdout) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve(stdout);
    });
  });
}

/** What the terminal shows for one marker-wrapped command: echo, begin line, output, end line. */
function terminalText(output: string, exitCode: number, nonce = NONCE): string {
  const echo = wrapCommand("cmd", nonce, "\n").replace(/\n/g, "\r\n");
  return `${echo}\r\n__SSHMCP_B_${nonce}__\r\n${output}\r\n__SSHMCP_E_${nonce}_${exitCode}__\r\n$ `;
}

function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

describe("wrapCommand", () => {
  it("sends the command inside a brace group between the two printf markers", () => {
    const w = wrapCommand("ls -l", NONCE, "\n");
    expect(w).toBe(
      `printf '__SSHMCP_B_%s__\\n' ${NONCE}; { ls -l\n}; printf '\\n__SSHMCP_E_%s_%s__\\n' ${NONCE} "$?"`,
    );
  });

  it("uses the given enter sequence before the closing brace", () => {
    expect(wrapCommand("true", NONCE, "\r")).toContain("{ true\r}");
    expect(wrapCommand("true", NONCE, "\r\n")).toContain("{ true\r\n}");
  });

  it("never contains the assembled markers, so its echo cannot be mistaken for them", () => {
    for (const enter of ["\n", "\r", "\r\n"]) {
      const w = wrapCommand("echo hello", NONCE, enter);
      expect(w).not.toContain(beginMarker(NONCE));
      expect(findBegin(w, NONCE)).toBe(-1);
      expect(findEnd(w, NONCE)).toBeUndefined();
      // Also as the terminal echoes it back (CRLF line ends), followed by more text.
      const echoed = w.replace(/\n/g, "\r\n") + "\r\n";
      expect(findBegin(echoed, NONCE)).toBe(-1);
      expect(findEnd(echoed, NONCE)).toBeUndefined();
    }
  });

  it.each([
    ["echo hi", "hi\n", 0],
    ["printf 'no newline'", "no newline", 0],
    ["true", "", 0],
    ["false", "", 1],
    ["nosuchcommand_sshmcp_test 2>/dev/null", "", 127],
    ["(exit 255)", "", 255],
    ["echo a # trailing comment", "a\n", 0],
    ["cat <<'EOF'\nx y\nEOF", "x y\n", 0],
    ["printf '中文 ✓\\n'", "中文 ✓\n", 0],
  ])("round-trips through a real sh: %j", async (command, output, code) => {
    const stdout = await runSh(wrapCommand(command, NONCE, "\n"));
    const b = findBegin(stdout, NONCE);
    expect(b).toBeGreaterThan(0);
    const e = findEnd(stdout, NONCE, b);
    expect(e).toBeDefined();
    expect(e?.exitCode).toBe(code);
    expect(stdout.slice(b, e?.outputEnd)).toBe(output);
    expect(e?.markerEnd).toBe(stdout.length - 1); // only the marker line's "\n" follows
  });
});

describe("findBegin", () => {
  it("returns the index just past the marker line with CRLF and with LF", () => {
    const crlf = `junk\r\n__SSHMCP_B_${NONCE}__\r\nout`;
    expect(findBegin(crlf, NONCE)).toBe(crlf.indexOf("out"));
    const lf = `junk\n__SSHMCP_B_${NONCE}__\nout`;
    expect(findBegin(lf, NONCE)).toBe(lf.indexOf("out"));
  });

  it("returns -1 for text without the marker or with another nonce", () => {
    expect(findBegin("plain text\r\n", NONCE)).toBe(-1);
    expect(findBegin(`__SSHMCP_B_fedcba9876543210__\r\n`, NONCE)).toBe(-1);
  });

  it("waits (-1) until the whole marker line has arrived, at every cut point", () => {
    const text = `echo\r\n__SSHMCP_B_${NONCE}__\r\nhello`;
    const full = text.indexOf("hello");
    for (let k = 0; k <= text.length; k++) {
      expect(findBegin(text.slice(0, k), NONCE), `cut at ${k}`).toBe(k >= full ? full : -1);
    }
  });

  it("starts searching at `from`", () => {
    const text = `__SSHMCP_B_${NONCE}__\nA`;
    expect(findBegin(text, NONCE, 1)).toBe(-1);
    expect(findBegin(text, NONCE, 0)).toBe(text.length - 1);
  });
});

describe("findEnd", () => {
  it.each([0, 1, 2, 127, 130, 255])("reads exit code %i", (code) => {
    const text = terminalText("out", code);
    const e = findEnd(text, NONCE);
    expect(e?.exitCode).toBe(code);
    const b = findBegin(text, NONCE);
    expect(text.slice(b, e?.outputEnd)).toBe("out");
    expect(text.slice(0, e?.markerEnd).endsWith(`_${code}__`)).toBe(true);
  });

  it("keeps a final newline of the output and removes only the one the marker adds (CRLF)", () => {
    const text = terminalText("line1\r\nline2\r\n", 0);
    const b = findBegin(text, NONCE);
    const e = findEnd(text, NONCE);
    expect(text.slice(b, e?.outputEnd)).toBe("line1\r\nline2\r\n");
  });

  it("handles LF-only text, with and without a trailing newline", () => {
    const a = `__SSHMCP_B_${NONCE}__\nabc\n\n__SSHMCP_E_${NONCE}_0__\n`;
    expect(a.slice(findBegin(a, NONCE), findEnd(a, NONCE)?.outputEnd)).toBe("abc\n");
    const b = `__SSHMCP_B_${NONCE}__\nabc\n__SSHMCP_E_${NONCE}_3__\n`;
    expect(b.slice(findBegin(b, NONCE), findEnd(b, NONCE)?.outputEnd)).toBe("abc");
    expect(findEnd(b, NONCE)?.exitCode).toBe(3);
  });

  it("returns empty output for a command that prints nothing", () => {
    const text = terminalText("", 0);
    const b = findBegin(text, NONCE);
    const e = findEnd(text, NONCE);
    expect(e?.outputEnd).toBe(b);
  });

  it("finds nothing until the whole marker with its exit code has arrived, at every cut point", () => {
    const text = terminalText("data", 127);
    const full = findEnd(text, NONCE);
    expect(full).toBeDefined();
    const markerEnd = full?.markerEnd ?? -1;
    for (let k = 0; k <= text.length; k++) {
      const e = findEnd(text.slice(0, k), NONCE);
      if (k < markerEnd) expect(e, `cut at ${k}`).toBeUndefined();
      else expect(e, `cut at ${k}`).toEqual(full);
    }
  });

  it("skips a marker prefix not followed by an exit code and finds the real one", () => {
    const text = `__SSHMCP_E_${NONCE}_x__\nmore\n__SSHMCP_E_${NONCE}_42__\n`;
    const e = findEnd(text, NONCE);
    expect(e?.exitCode).toBe(42);
    expect(e?.outputEnd).toBe(text.indexOf("more") + 4);
  });

  it("ignores the end marker of another nonce", () => {
    expect(findEnd(`\n__SSHMCP_E_ffffffffffffffff_0__\n`, NONCE)).toBeUndefined();
  });

  it("fits in MARKER_OVERLAP so incremental scans can back up across chunk edges", () => {
    expect(`__SSHMCP_E_${NONCE}_255__\r\n`.length).toBeLessThanOrEqual(MARKER_OVERLAP);
    expect(`${beginMarker(NONCE)}\r\n`.length).toBeLessThanOrEqual(MARKER_OVERLAP);
  });
});

describe("cleanOutput", () => {
  it("leaves plain text and Chinese text intact", () => {
    expect(cleanOutput("hello world\n中文输出 ✓ 😀\n")).toBe("hello world\n中文输出 ✓ 😀\n");
  });

  it("folds CRLF (and CR runs before LF) into LF", () => {
    expect(cleanOutput("a\r\nb\r\r\nc\r\n")).toBe("a\nb\nc\n");
  });

  it("removes ANSI color and cursor sequences", () => {
    expect(cleanOutput("\x1b[01;34mdir\x1b[0m  \x1b[32mfile.txt\x1b[m\r\n")).toBe("dir  file.txt\n");
    expect(cleanOutput("\x1b[?2004hx\x1b[?2004l\x1b[2K\x1b[1;1H")).toBe("x");
    expect(cleanOutput("\x1b(B\x1b[mplain")).toBe("plain");
  });

  it("removes OSC title sequences, including titles with spaces, terminated by BEL or ST", () => {
    expect(cleanOutput("\x1b]0;root@host: /var/log\x07out\n")).toBe("out\n");
    expect(cleanOutput("\x1b]2;my title\x1b\\out\n")).toBe("out\n");
  });

  it("keeps the last state of a progress bar written with bare CRs", () => {
    expect(cleanOutput("10%\r50%\r100%\n")).toBe("100%\n");
    expect(cleanOutput("10%\r50%\r100%\r\n")).toBe("100%\n");
    expect(cleanOutput("start\r\n[=   ] 10%\r[==  ] 50%\r[====] 100%\r\ndone\r\n")).toBe(
      "start\n[====] 100%\ndone\n",
    );
  });

  it("overlays a shorter rewrite on the longer line as a terminal does", () => {
    expect(cleanOutput("abcdef\rXY\n")).toBe("XYcdef\n");
  });

  it("drops a CR at the end of a line without erasing it", () => {
    expect(cleanOutput("last line\r")).toBe("last line");
  });

  // The module promises "a bare CR overwrites the line as a terminal would". A terminal erases the
  // rest of the line on ESC[K (EL), which progress output commonly sends after CR; cleanOutput strips
  // the EL before applying the CR, so the old line's tail shows through.
  it.fails("erases the rest of the line on CR + ESC[K (erase in line), as a terminal does", () => {
    expect(cleanOutput("Downloading files...\r\x1b[Kok\n")).toBe("ok\n");
  });

  it("applies backspace, also over multi-unit characters", () => {
    expect(cleanOutput("abc\b\bXY\n")).toBe("aXY\n");
    expect(cleanOutput("中文\b字\n")).toBe("中字\n");
    expect(cleanOutput("x😀\by\n")).toBe("xy\n");
  });

  it("drops stray control characters but keeps tabs and newlines", () => {
    expect(cleanOutput("a\x07b\x00c\x7fd\te\x0bf\x0cg\n")).toBe("abcd\tefg\n");
    expect(cleanOutput("p\x07q\rr\n")).toBe("rq\n");
  });
});

describe("capOutput", () => {
  it("returns short text unchanged", () => {
    expect(capOutput("short", 10)).toEqual({ output: "short", truncated: false });
    expect(capOutput("x".repeat(10), 10)).toEqual({ output: "x".repeat(10), truncated: false });
  });

  it("keeps a quarter as head and the rest as tail, with a note of how many characters were omitted", () => {
    const text = Array.from({ length: 1000 }, (_, i) => String(i % 10)).join("");
    const { output, truncated } = capOutput(text, 100);
    expect(truncated).toBe(true);
    const note = "\n... [900 characters omitted; call get_command with output_offset to read them] ...\n";
    expect(output).toBe(text.slice(0, 25) + note + text.slice(925));
    expect(output.length).toBe(100 + note.length);
  });

  it("keeps the exact head and tail for max not divisible by 4", () => {
    const text = "abcdefghijklmnopqrstuvwxyz";
    const { output } = capOutput(text, 7);
    expect(output.startsWith("a\n")).toBe(true);
    expect(output.endsWith("\nuvwxyz")).toBe(true);
    expect(output).toContain("[19 characters omitted;");
  });

  // pageOutput takes care never to split a surrogate pair; capOutput cuts at raw UTF-16 indexes, so
  // emoji at the head/tail boundary become lone surrogates (U+FFFD or \udXXX escapes for the client).
  it.fails("never splits a surrogate pair at the head or tail cut", () => {
    const text = "😀".repeat(50);
    expect(hasLoneSurrogate(capOutput(text, 8).output)).toBe(false); // head 2, tail 6: on pair edges
    // max 12: head 3 and tail 9 UTF-16 units, both cuts fall inside an emoji.
    const { output, truncated } = capOutput(text, 12);
    expect(truncated).toBe(true);
    expect(hasLoneSurrogate(output)).toBe(false);
  });
});

describe("pageOutput / jsonSize", () => {
  const sample =
    'plain ASCII "quoted" \\ back\tslash\n' +
    "中文字符与emoji 😀🎉👍🏽 mixed \u0001\u001f control\r\n" +
    "é ü ß — ✓ ".repeat(7);
  const text = sample.repeat(40);

  function pages(t: string, budget: number): string[] {
    const out: string[] = [];
    let offset: number | null = 0;
    let guard = 0;
    while (offset !== null) {
      const p = pageOutput(t, offset, budget);
      out.push(p.output);
      if (p.nextOffset !== null) expect(p.nextOffset).toBeGreaterThan(offset);
      offset = p.nextOffset;
      if (++guard > 100_000) throw new Error("pageOutput did not advance");
    }
    return out;
  }

  it("jsonSize equals the UTF-8 byte length of the JSON-escaped text (without quotes)", () => {
    for (const s of [sample, "", "abc", "中", "😀", '"\\\n\r\t', "\u0001"]) {
      expect(jsonSize(s)).toBe(Buffer.byteLength(JSON.stringify(s)) - 2);
    }
  });

  it.each([6, 7, 64, 1000, 4096])("pages concatenate back to the original (budget %i)", (budget) => {
    const ps = pages(text, budget);
    expect(ps.join("")).toBe(text);
    expect(ps.length).toBeGreaterThan(1);
    for (const p of ps) {
      expect(p.length).toBeGreaterThan(0);
      expect(jsonSize(p)).toBeLessThanOrEqual(budget);
      // The JSON string as sent: the escaped content plus its two quotes.
      expect(Buffer.byteLength(JSON.stringify(p)) - 2).toBeLessThanOrEqual(budget);
      expect(hasLoneSurrogate(p)).toBe(false);
    }
  });

  it("fills pages nearly to the budget", () => {
    const ps = pages("x".repeat(10_000), 1000);
    expect(ps.length).toBe(10);
    expect(ps.every((p) => p.length === 1000)).toBe(true);
  });

  it("returns the whole text with nextOffset null when it fits", () => {
    expect(pageOutput("中文 😀", 0, 1000)).toEqual({ output: "中文 😀", nextOffset: null });
  });

  it("returns nextOffset null on the last page and an empty page past the end", () => {
    const t = "abcdefghij";
    expect(pageOutput(t, 0, 4)).toEqual({ output: "abcd", nextOffset: 4 });
    expect(pageOutput(t, 8, 4)).toEqual({ output: "ij", nextOffset: null });
    expect(pageOutput(t, 50, 4)).toEqual({ output: "", nextOffset: null });
  });

  it("moves a page end that would split a surrogate pair back before the pair", () => {
    const t = "ab😀cd";
    // budget 4: "ab" (2) + high surrogate (2) fits, the low surrogate does not.
    expect(pageOutput(t, 0, 4)).toEqual({ output: "ab", nextOffset: 2 });
    expect(pageOutput(t, 2, 4)).toEqual({ output: "😀", nextOffset: 4 });
  });

  it("counts escaped characters at their JSON cost", () => {
    // Each '"' costs 2 bytes once escaped.
    expect(pageOutput('""""', 0, 4)).toEqual({ output: '""', nextOffset: 2 });
    // A control character costs 6 (\u0001).
    expect(pageOutput("\u0001\u0001", 0, 11)).toEqual({ output: "\u0001", nextOffset: 1 });
  });
});
