import fc from "fast-check";
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  beginMarker,
  capOutput,
  cleanLong,
  cleanOutput,
  findBegin,
  findEnd,
  MARKER_OVERLAP,
  OutputDigest,
  pageOutput,
  replyCost,
  replySize,
  tailWithin,
} from "../../src/session/output.js";
import { installLine, wrapCommand as wrapFor } from "../../src/session/shells.js";

/** The line a bash session types for `command`. */
const wrapCommand = (command: string, nonce: string, name = "bash"): string =>
  wrapFor({ name }, "posix", command, nonce);

/** A script for a shell started fresh: the helpers, then the command's line. */
const script = (name: string, ...lines: string[]): string =>
  [installLine("posix", "feedfacefeedface"), ...lines].join("\n");

const NONCE = "0123456789abcdef";
const TAB = "\t";

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs a program; a non-zero exit status is a result here, not an error. */
function run(file: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") reject(err);
        else resolve({ stdout, stderr, code: typeof err?.code === "number" ? err.code : 0 });
      },
    );
    child.stdin?.on("error", () => undefined); // a shell that never reads its stdin
    child.stdin?.end(input ?? "");
  });
}

/** zsh's own answers where they differ: parse errors give status 1, and `}` is reserved anywhere. */
const ZSH: Record<string, [string, number]> = {
  "syntax error": ["", 1],
  "unbalanced quote": ["", 1],
  "a lone }": ["", 1],
  "} as an argument": ["", 1],
};

/** mksh's: parse errors give status 1. */
const MKSH: Record<string, [string, number]> = {
  "syntax error": ["", 1],
  "unbalanced quote": ["", 1],
  "a lone }": ["", 1],
};

/**
 * dash as /bin/sh and bash without rc files (the shells a session most often sits in), zsh, ash,
 * mksh: [label, program, args, differences, the name the probe reports].
 */
const SHELLS: [string, string, string[], Record<string, [string, number]>, string][] = [
  ["sh (dash)", "sh", ["-c"], {}, "dash"],
  ["bash --norc", "bash", ["--norc", "-c"], {}, "bash"],
  ["zsh -f", "zsh", ["-f", "-c"], ZSH, "zsh"],
  ["busybox ash", "busybox", ["sh", "-c"], {}, "ash"],
  ["mksh", "mksh", ["-c"], MKSH, "mksh"],
];

/** The same shells reading commands from stdin as interactive shells. */
const INTERACTIVE: [string, string, string[], number, string][] = [
  ["sh (dash) -i", "sh", ["-i"], 2, "dash"],
  ["bash --norc -i", "bash", ["--norc", "-i"], 2, "bash"],
  ["zsh -f -i", "zsh", ["-f", "-i"], 1, "zsh"],
  ["busybox ash -i", "busybox", ["sh", "-i"], 2, "ash"],
  ["mksh -i", "mksh", ["-i"], 1, "mksh"],
];

/** What the terminal showed for one command under an older server: echo, begin line, output, end line. */
function terminalText(output: string, exitCode: number, nonce = NONCE): string {
  const echo = ` printf '__SSHMCP_B_%s__\\n' ${nonce}; eval 'cmd'; printf '\\n__SSHMCP_E_%s_%s__\\n' ${nonce} "$?"`;
  return `${echo}\r\n__SSHMCP_B_${nonce}__\r\n${output}\r\n__SSHMCP_E_${nonce}_${exitCode}__\r\n$ `;
}

/** The same with today's invisible marks: echo, C mark, output, D mark, prompt. */
function oscText(output: string, exitCode: number, nonce = NONCE): string {
  const echo = wrapCommand("cmd", nonce).replace(/\n/g, "\r\n");
  return `${echo}\r\n${beginMarker(nonce)}${output}\x1b]133;D;${exitCode};sshmcp=${nonce}\x07$ `;
}

function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

function physicalLines(wrapped: string): string[] {
  return wrapped.split("\n");
}

function maxLineBytes(wrapped: string): number {
  return Math.max(...physicalLines(wrapped).map((l) => Buffer.byteLength(l)));
}

const LONG_X = "x".repeat(5000);

/** [name, command, expected output, expected exit code] */
const ROUND_TRIPS: [string, string, string, number][] = [
  ["plain", "echo hi", "hi\n", 0],
  ["no trailing newline", "printf 'no newline'", "no newline", 0],
  ["no output", "true", "", 0],
  ["exit 1", "false", "", 1],
  ["command not found", "nosuchcommand_sshmcp_test 2>/dev/null", "", 127],
  ["exit 255", "(exit 255)", "", 255],
  ["comment", "echo a # c", "a\n", 0],
  ["comment only", "# c", "", 0],
  ["heredoc", "cat <<'EOF'\nx y\nEOF", "x y\n", 0],
  ["multi-line script", "echo one\necho two\n", "one\ntwo\n", 0],
  ["Chinese", "printf '中文 ✓\\n'", "中文 ✓\n", 0],
  ["emoji", "echo '😀 ok'", "😀 ok\n", 0],
  ["single quotes", `echo 'it'\\''s' "a'b" ''`, "it's a'b \n", 0],
  ["backslashes", "printf '%s\\n' 'back\\slash' \"q\\\\x\"", "back\\slash\nq\\x\n", 0],
  ["TAB inside quotes", `printf 'a${TAB}b'`, `a${TAB}b`, 0],
  ["TAB followed by a digit", `printf 'a${TAB}1\\n'`, `a${TAB}1\n`, 0],
  ["TAB in a heredoc", `cat <<'EOF'\n${TAB}x${TAB}\nEOF`, `${TAB}x${TAB}\n`, 0],
  ["TAB, backslash and ! together", `printf '%s' 'a${TAB}b\\c!d'`, `a${TAB}b\\c!d`, 0],
  ["syntax error", "echo a |", "", 2],
  ["unbalanced quote", 'echo "x', "", 2],
  ["a lone }", "}", "", 2],
  ["} as an argument", "echo }", "}\n", 0],
  ["} on its own line in a heredoc", "cat <<'EOF'\n}\nEOF", "}\n", 0],
  ["history-expansion text", 'echo "hi!x"', "hi!x\n", 0],
  ["background job and wait", "true & wait; echo done", "done\n", 0],
  ["line continuation in the command", "echo a\\\nb", "ab\n", 0],
  ["5000-character command", `printf %s '${LONG_X}'`, LONG_X, 0],
  ["long command of CJK", `printf %s '${"中".repeat(3000)}'`, "中".repeat(3000), 0],
  ["long command with quotes across pieces", `echo ${"'a'".repeat(2000)}`, "a".repeat(2000) + "\n", 0],
  [
    "long command with escapes across pieces",
    `printf '%s' '${`a${TAB}b\\c!`.repeat(800)}'`,
    `a${TAB}b\\c!`.repeat(800),
    0,
  ],
  [
    "long command with an emoji on a piece edge",
    `printf %s '${"y".repeat(984)}${"😀".repeat(20)}'`,
    "y".repeat(984) + "😀".repeat(20),
    0,
  ],
];

describe("wrapCommand", () => {
  const BEGIN_PRINTF = ` __mcp_b ${NONCE}&&command eval `;
  const END_PRINTF = `;__mcp_e $?`;

  it("is one short line: the helpers around the single-quoted command, with a leading space", () => {
    expect(wrapCommand("ls -l", NONCE)).toBe(` __mcp_b ${NONCE}&&command eval 'ls -l';__mcp_e $?`);
    expect(wrapCommand("ls -l", NONCE, "zsh")).toBe(` __mcp_b ${NONCE}&&builtin eval 'ls -l';__mcp_e $?`);
    expect(wrapCommand("ls -l", NONCE, "mksh")).toBe(` __mcp_b ${NONCE}&&__mcp_x 'ls -l' "$@";__mcp_e $?`);
  });

  it("escapes single quotes as '\\'' and leaves !, } and newlines alone outside the escape mode", () => {
    expect(wrapCommand("echo 'a'", NONCE)).toContain(`'echo '\\''a'\\'''`);
    expect(wrapCommand('echo "hi!x" }', NONCE)).toContain(`'echo "hi!x" }'`);
    expect(wrapCommand("a\nb", NONCE)).toContain(`'a\nb'`);
    expect(wrapCommand("echo 'a'", NONCE)).not.toContain("printf '%b'");
  });

  it("sends control characters as printf %b octal escapes, with backslashes doubled and ! escaped", () => {
    const tab = wrapCommand(`printf 'a${TAB}b'`, NONCE);
    expect(tab.startsWith(BEGIN_PRINTF)).toBe(true);
    expect(tab).toContain(`"$(printf '%b' 'printf '\\''a\\0011b'\\''')"`);
    expect(tab).toContain(END_PRINTF);
    const w = wrapCommand(`x\\y!${TAB}\r\x1b\x7f\nz`, NONCE);
    expect(w).toContain(`"$(printf '%b' 'x\\\\y\\0041\\0011\\0015\\0033\\0177\\0012z')"`);
    // Nothing the terminal or readline would act on is left in the text.
    expect(w).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(w).not.toContain("!");
    expect(physicalLines(w)).toHaveLength(1);
  });

  it("uses only LF line continuations (a CR would end a continued line early)", () => {
    expect(wrapCommand(`printf %s '${LONG_X}'`, NONCE)).not.toContain("\r");
  });

  it("cuts a long command into quoted pieces joined by backslash-newline continuations", () => {
    const w = wrapCommand(`printf %s '${LONG_X}'`, NONCE);
    const lines = physicalLines(w);
    expect(lines.length).toBe(6); // 5012 characters in pieces of 1000
    for (const l of lines.slice(0, -1)) expect(l.endsWith("'\\")).toBe(true);
    for (const l of lines.slice(1)) expect(l.startsWith("'")).toBe(true);
    for (const l of lines) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(1100);
    expect(lines.at(-1)).toContain(END_PRINTF);
    expect(lines[0]?.startsWith(BEGIN_PRINTF)).toBe(true);
  });

  it("never ends a piece inside a surrogate pair", () => {
    for (let pad = 990; pad <= 1001; pad++) {
      const w = wrapCommand(`echo ${"y".repeat(pad)}${"😀".repeat(10)}`, NONCE);
      expect(physicalLines(w).length).toBeGreaterThan(1);
      for (const l of physicalLines(w)) expect(hasLoneSurrogate(l), `pad ${pad}`).toBe(false);
    }
  });

  it.each([
    ["5000 x", LONG_X],
    ["5000 CJK", "中".repeat(5000)],
    ["3000 emoji", "😀".repeat(3000)],
    ["5000 TABs", TAB.repeat(5000)],
    ["5000 single quotes", "'".repeat(5000)],
    ["1000 single quotes", "'".repeat(1000)],
    ["quotes, TABs and CJK", `'中${TAB}!`.repeat(1500)],
  ])("keeps every physical line under the tty's 4095-byte canonical line limit: %s", (_name, command) => {
    expect(maxLineBytes(wrapCommand(command, NONCE))).toBeLessThan(4095);
  });

  it("keeps the physical lines of a 5000-character ASCII command near 1000 bytes", () => {
    expect(maxLineBytes(wrapCommand(`printf %s '${LONG_X}'`, NONCE))).toBeLessThanOrEqual(1100);
    expect(maxLineBytes(wrapCommand(`printf %s '${TAB.repeat(1000)}'`, NONCE))).toBeLessThanOrEqual(1100);
  });

  it.each(ROUND_TRIPS)("its echo contains neither marker: %s", (_name, command) => {
    const w = wrapCommand(command, NONCE);
    // As the terminal echoes it back (CRLF line ends), followed by more text.
    const echoed = w.replace(/\n/g, "\r\n") + "\r\n$ ";
    for (const text of [w, echoed]) {
      expect(text).not.toContain(beginMarker(NONCE));
      expect(text).not.toContain(`__SSHMCP_E_${NONCE}`);
      expect(findBegin(text, NONCE)).toBe(-1);
      expect(findEnd(text, NONCE)).toBeUndefined();
    }
  });

  describe.each(SHELLS)("round-trips through a real %s", (_label, shell, args, differs, probed) => {
    it.each(ROUND_TRIPS)("%s", async (name, command, output, code) => {
      const [wantOutput, wantCode] = differs[name] ?? [output, code];
      const r = await run(shell, [
        ...args,
        script(probed, wrapCommand(command, NONCE, probed), "echo AFTER"),
      ]);
      const b = findBegin(r.stdout, NONCE);
      expect(b, `stderr: ${r.stderr}`).toBeGreaterThan(0);
      const e = findEnd(r.stdout, NONCE, b);
      expect(e, `end marker missing; stderr: ${r.stderr}`).toBeDefined();
      expect(e?.exitCode).toBe(wantCode);
      expect(r.stdout.slice(b, e?.outputEnd)).toBe(wantOutput);
      // The shell itself went on past the end mark.
      expect(r.stdout.slice(e?.markerEnd)).toBe("AFTER\n");
    });
  });

  describe.each(INTERACTIVE)(
    "keeps an interactive %s going after a syntax error",
    (_label, shell, args, code, probed) => {
      it.each([
        ["syntax error", "echo a |"],
        ["unbalanced quote", 'echo "x'],
        ["a lone }", "}"],
      ])("%s", async (_name, command) => {
        const text = script(
          probed,
          wrapCommand(command, NONCE, probed),
          wrapCommand("echo after", "fedcba9876543210", probed),
          "exit 0\n",
        );
        const r = await run(shell, args, text);
        const b = findBegin(r.stdout, NONCE);
        const e = findEnd(r.stdout, NONCE, Math.max(b, 0));
        expect(b, `stdout: ${r.stdout} stderr: ${r.stderr}`).toBeGreaterThan(-1);
        expect(e, `end marker missing; stdout: ${r.stdout} stderr: ${r.stderr}`).toBeDefined();
        expect(e?.exitCode).toBe(code);
        expect(r.stdout.slice(b, e?.outputEnd)).toBe("");
        // The next command runs normally.
        const b2 = findBegin(r.stdout, "fedcba9876543210", e?.markerEnd);
        const e2 = findEnd(r.stdout, "fedcba9876543210", Math.max(b2, 0));
        expect(e2?.exitCode).toBe(0);
        expect(r.stdout.slice(b2, e2?.outputEnd)).toBe("after\n");
      });
    },
  );

  it.each([
    ["plain", 'echo "hi!x"', "hi!x\n"],
    ["escape mode", `echo "hi!x${TAB}"`, `hi!x${TAB}\n`],
    ["!! (the previous command)", `echo 'its!' "!!"`, "its! !!\n"],
  ])("is immune to bash history expansion (history on, set -H): %s", async (_name, command, output) => {
    const prelude = "set -o history; set -H\n";
    // The harness can see history expansion: the bare command fails with "event not found".
    const bare = await run("bash", ["--norc"], `${prelude}echo "x!nosuchevent"\n`);
    expect(bare.stderr).toMatch(/event not found/);
    const r = await run("bash", ["--norc"], `${prelude}${script("bash", wrapCommand(command, NONCE))}\n`);
    expect(r.stderr).toBe("");
    const b = findBegin(r.stdout, NONCE);
    const e = findEnd(r.stdout, NONCE, b);
    expect(e?.exitCode).toBe(0);
    expect(r.stdout.slice(b, e?.outputEnd)).toBe(output);
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

  it.each([
    ["CR + ESC[K", "Downloading files...\r\x1b[Kok\n"],
    ["CR + ESC[0K", "Downloading files...\r\x1b[0Kok\n"],
    ["CR + ESC[2K", "Downloading files...\r\x1b[2Kok\n"],
    ["ESC[2K + CR", "Downloading files...\x1b[2K\rok\n"],
    ["CRLF line end after it", "Downloading files...\r\x1b[Kok\r\n"],
  ])("erases the line on erase-in-line at a carriage return (%s), as a terminal does", (_name, raw) => {
    expect(cleanOutput(raw)).toBe("ok\n");
  });

  it("keeps only the last state of a progress line redrawn with CR + erase-line", () => {
    const raw =
      "start\r\n" +
      [10, 50, 100].map((p) => `\r\x1b[K[${"=".repeat(p / 10)}] ${p}%`).join("") +
      "\r\ndone\r\n";
    expect(cleanOutput(raw)).toBe("start\n[==========] 100%\ndone\n");
    expect(cleanOutput("a long line\r\x1b[K")).toBe("");
    expect(cleanOutput("abc\r\x1b[Kx\rY\n")).toBe("Y\n");
  });

  it("leaves an erase-line that is not at a carriage return to strip-ansi", () => {
    expect(cleanOutput("abc\x1b[Kdef\n")).toBe("abcdef\n");
    expect(cleanOutput("abcdef\r\x1b[1KXY\n")).toBe("XYcdef\n"); // ESC[1K erases to the left only
  });

  it("treats a NUL after a carriage return as the no-op a terminal makes of it", () => {
    expect(cleanOutput("abcdef\r\0XY\n")).toBe("XYcdef\n");
    expect(cleanOutput("abcdef\r\0XY\x1b[0m\n")).toBe("XYcdef\n");
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

  it("never splits a surrogate pair at the head or tail cut", () => {
    const text = "😀".repeat(50);
    expect(hasLoneSurrogate(capOutput(text, 8).output)).toBe(false); // head 2, tail 6: on pair edges
    // max 12: head 3 and tail 9 UTF-16 units, both cuts fall inside an emoji.
    const { output, truncated } = capOutput(text, 12);
    expect(truncated).toBe(true);
    expect(hasLoneSurrogate(output)).toBe(false);
    expect(output).toMatch(/^(😀)+\n\.\.\. \[(\d+) characters omitted;[^\n]*\n(😀)+$/);
    const omitted = Number(/\[(\d+) characters omitted/.exec(output)?.[1]);
    const kept = output.split("\n");
    // The omitted count is the exact number of UTF-16 units left out.
    expect((kept[0] ?? "").length + omitted + (kept.at(-1) ?? "").length).toBe(text.length);
  });

  it("keeps pairs whole for every max over mixed text", () => {
    const text = "a😀b中🎉".repeat(30);
    for (let max = 1; max < text.length; max++) {
      const { output, truncated } = capOutput(text, max);
      expect(truncated).toBe(true);
      expect(hasLoneSurrogate(output), `max ${max}`).toBe(false);
    }
  });
});

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [
  "a",
  "Z",
  "0",
  " ",
  "~",
  '"',
  "\\",
  "/",
  "\n",
  "\r",
  "\t",
  "\b",
  "\f",
  "\u0000",
  "\u0001",
  "\u001b",
  "\u001f",
  "\u007f",
  "\u0080",
  "é",
  "ß",
  "\u07ff",
  "中",
  "文",
  "✓",
  "\u2028",
  "\uffff",
  "😀",
  "🎉",
  "👍🏽",
  "\u{10ffff}",
];

function randomText(next: () => number, maxLen: number): string {
  let s = "";
  const n = Math.floor(next() * maxLen);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return s;
}

/** The MCP tool reply carrying `t`: once in structuredContent, once as JSON text in content. */
function replyBytes(t: string): number {
  const payload = { output: t };
  return Buffer.byteLength(
    JSON.stringify({
      structuredContent: payload,
      content: [{ type: "text", text: JSON.stringify(payload) }],
    }),
  );
}

/** The code points of `s`. */
function codePoints(s: string): string[] {
  return [...s];
}

describe("replyCost / replySize", () => {
  it("is an upper bound of what the text adds to a real reply, for random mixed text", () => {
    const next = rng(42);
    const base = replyBytes("");
    expect(base).toBeLessThan(200);
    for (let k = 0; k < 2000; k++) {
      const t = randomText(next, 300);
      expect(replyBytes(t), JSON.stringify(t)).toBeLessThanOrEqual(replySize(t) + 200);
      expect(replyBytes(t) - base, JSON.stringify(t)).toBeLessThanOrEqual(replySize(t));
    }
  });

  it("is exactly what each kind of character adds to the reply (no wasted budget)", () => {
    const base = replyBytes("");
    for (const ch of ALPHABET) {
      const units = [...Array(ch.length).keys()].map((i) => ch.charCodeAt(i));
      expect(
        units.reduce((n, c) => n + replyCost(c), 0),
        JSON.stringify(ch),
      ).toBe(replyBytes(ch) - base);
      expect(replySize(ch.repeat(7))).toBe(7 * (replyBytes(ch) - base));
    }
  });

  it("counts both copies: a quote costs 2 + 4, a control character 6 + 7, CJK 3 + 3", () => {
    expect(replySize('"')).toBe(6);
    expect(replySize("\\")).toBe(6);
    expect(replySize("\n")).toBe(5);
    expect(replySize("\u0001")).toBe(13);
    expect(replySize("中")).toBe(6);
    expect(replySize("😀")).toBe(8);
    expect(replySize("ab")).toBe(4);
    expect(replySize("")).toBe(0);
  });

  it("is an upper bound for lone surrogates too (escaped as \\udXXX by JSON.stringify)", () => {
    const base = replyBytes("");
    for (const t of ["\ud800", "\udfff", "x\ud83d", "\ude00y", "\ud800".repeat(100)]) {
      expect(replyBytes(t) - base, JSON.stringify(t)).toBeLessThanOrEqual(replySize(t));
    }
  });
});

describe("pageOutput", () => {
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
      if (p.nextOffset !== null) {
        expect(p.nextOffset).toBeGreaterThan(offset);
        expect(p.nextOffset).toBe(offset + p.output.length);
      }
      offset = p.nextOffset;
      if (++guard > 100_000) throw new Error("pageOutput did not advance");
    }
    return out;
  }

  it.each([1, 5, 6, 8, 13, 64, 1000, 4096])(
    "pages concatenate back to the original (budget %i)",
    (budget) => {
      const ps = pages(text, budget);
      expect(ps.join("")).toBe(text);
      expect(ps.length).toBeGreaterThan(1);
      ps.forEach((p, i) => {
        expect(p.length).toBeGreaterThan(0);
        expect(hasLoneSurrogate(p)).toBe(false);
        // Within the budget, unless one character alone costs more.
        if (codePoints(p).length > 1) expect(replySize(p)).toBeLessThanOrEqual(budget);
        // Full: the next character would not have fitted.
        const following = codePoints(ps[i + 1] ?? "")[0];
        if (following !== undefined) expect(replySize(p + following)).toBeGreaterThan(budget);
      });
    },
  );

  it("pages random mixed text for random budgets", () => {
    const next = rng(7);
    for (let k = 0; k < 200; k++) {
      const t = randomText(next, 400);
      const budget = 1 + Math.floor(next() * 200);
      const ps = pages(t, budget);
      expect(ps.join("")).toBe(t);
      for (const p of ps) {
        expect(hasLoneSurrogate(p)).toBe(false);
        if (codePoints(p).length > 1) expect(replySize(p)).toBeLessThanOrEqual(budget);
      }
    }
  });

  it("fills pages to the budget", () => {
    const ps = pages("x".repeat(10_000), 2000);
    expect(ps.length).toBe(10);
    expect(ps.every((p) => p.length === 1000)).toBe(true);
  });

  it("returns the whole text with nextOffset null when it fits", () => {
    expect(pageOutput("中文 😀", 0, 1000)).toEqual({ output: "中文 😀", nextOffset: null });
    expect(pageOutput("中文 😀", 0, replySize("中文 😀"))).toEqual({ output: "中文 😀", nextOffset: null });
    expect(pageOutput("", 0, 10)).toEqual({ output: "", nextOffset: null });
  });

  it("returns nextOffset null on the last page and an empty page past the end", () => {
    const t = "abcdefghij";
    expect(pageOutput(t, 0, 8)).toEqual({ output: "abcd", nextOffset: 4 });
    expect(pageOutput(t, 4, 8)).toEqual({ output: "efgh", nextOffset: 8 });
    expect(pageOutput(t, 8, 8)).toEqual({ output: "ij", nextOffset: null });
    expect(pageOutput(t, 50, 8)).toEqual({ output: "", nextOffset: null });
    expect(pageOutput(t, -3, 4)).toEqual({ output: "ab", nextOffset: 2 });
  });

  it("still advances by one character when the budget is smaller than its cost", () => {
    expect(pageOutput("abc", 0, 1)).toEqual({ output: "a", nextOffset: 1 });
    expect(pageOutput("abc", 0, 0)).toEqual({ output: "a", nextOffset: 1 });
    expect(pageOutput('"x', 0, 5)).toEqual({ output: '"', nextOffset: 1 });
    expect(pageOutput("\u0001\u0001", 0, 12)).toEqual({ output: "\u0001", nextOffset: 1 });
    // An emoji is never split, even when half of it is already over the budget.
    expect(pageOutput("😀x", 0, 1)).toEqual({ output: "😀", nextOffset: 2 });
    expect(pageOutput("a😀", 1, 3)).toEqual({ output: "😀", nextOffset: null });
  });

  it("moves a page end that would split a surrogate pair back before the pair", () => {
    const t = "ab😀cd";
    // budget 8: "ab" (4) + high surrogate (4) fits, the low surrogate does not.
    expect(pageOutput(t, 0, 8)).toEqual({ output: "ab", nextOffset: 2 });
    expect(pageOutput(t, 2, 8)).toEqual({ output: "😀", nextOffset: 4 });
    expect(pageOutput(t, 2, 10)).toEqual({ output: "😀c", nextOffset: 5 });
  });

  it("counts escaped characters at their reply cost", () => {
    expect(pageOutput('""""', 0, 12)).toEqual({ output: '""', nextOffset: 2 });
    expect(pageOutput('""""', 0, 11)).toEqual({ output: '"', nextOffset: 1 });
    expect(pageOutput("\n\n\n", 0, 10)).toEqual({ output: "\n\n", nextOffset: 2 });
    expect(pageOutput("中中中", 0, 17)).toEqual({ output: "中中", nextOffset: 2 });
  });
});

describe("tailWithin", () => {
  it("returns the whole text, not truncated, when it fits", () => {
    expect(tailWithin("", 0)).toEqual({ text: "", truncated: false });
    expect(tailWithin("abc", 6)).toEqual({ text: "abc", truncated: false });
    expect(tailWithin("中文 😀", 100)).toEqual({ text: "中文 😀", truncated: false });
  });

  it("keeps the longest tail that fits", () => {
    expect(tailWithin("abcdef", 6)).toEqual({ text: "def", truncated: true });
    expect(tailWithin("abcdef", 7)).toEqual({ text: "def", truncated: true });
    expect(tailWithin('ab"c', 8)).toEqual({ text: '"c', truncated: true });
    expect(tailWithin("abc", 1)).toEqual({ text: "", truncated: true });
  });

  it("never starts with half a surrogate pair", () => {
    expect(tailWithin("ab😀", 8)).toEqual({ text: "😀", truncated: true });
    expect(tailWithin("ab😀", 5)).toEqual({ text: "", truncated: true });
    expect(tailWithin("😀😀x", 10)).toEqual({ text: "😀x", truncated: true });
  });

  it("is a suffix within the budget, as long as possible, for random text and budgets", () => {
    const next = rng(99);
    for (let k = 0; k < 500; k++) {
      const t = randomText(next, 200);
      const budget = Math.floor(next() * 300);
      const r = tailWithin(t, budget);
      expect(t.endsWith(r.text)).toBe(true);
      expect(r.truncated).toBe(r.text.length < t.length);
      expect(replySize(r.text)).toBeLessThanOrEqual(budget);
      expect(hasLoneSurrogate(r.text)).toBe(false);
      const before = codePoints(t.slice(0, t.length - r.text.length)).at(-1);
      if (before !== undefined) expect(replySize(before + r.text)).toBeGreaterThan(budget);
    }
  });
});

describe("OutputDigest", () => {
  it("caps as capOutput of the whole would, holding the whole only while it is short", () => {
    const piece = fc.string({ unit: fc.constantFrom("a", "\n", "中", "😀", "\ud83d"), maxLength: 300 });
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 40 }),
        fc.integer({ min: 4, max: 400 }),
        fc.integer({ min: 0, max: 400 }),
        piece,
        (pieces, hold, m, rest) => {
          const d = new OutputDigest(hold);
          for (const p of pieces) d.push(p);
          const whole = pieces.join("");
          const max = Math.max(4, Math.min(m, hold));
          expect(d.length).toBe(whole.length);
          expect(d.whole()).toBe(whole.length <= 2 * hold ? whole : undefined);
          expect(d.cap(max)).toEqual(capOutput(whole, max));
          expect(d.cap(max, rest)).toEqual(capOutput(whole + rest, max));
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("cleanOutput, piecewise", () => {
  // Session cleans a long output in pieces cut right after a line break (session.ts cleanAhead).
  const text = fc
    .array(
      fc.constantFrom(
        "a",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\x1b[K",
        "\x1b[2K",
        "\x1b[31m",
        "\x1b]0;t\x07",
        "\b",
        "\0",
        "中",
        "😀",
        "\x1b",
        "[",
      ),
      { maxLength: 30 },
    )
    .map((p) => p.join(""));

  it("cleanLong, cut after any line break, equals cleanOutput, late markers included", () => {
    const late = fc.constantFrom(
      "__SSHMCP_E_0123456789abcdef_0__",
      "__SSHMCP_B_0123456789abcdef__",
      "\n\n",
      "\x1b]0;title ",
      "\x07",
      "\x1bP",
      "\x1b\\",
    );
    const withMarkers = fc.array(fc.oneof(text, late), { maxLength: 8 }).map((p) => p.join(""));
    fc.assert(
      fc.property(withMarkers, fc.integer({ min: 1, max: 40 }), (t, piece) => {
        expect(cleanLong(t, piece)).toBe(cleanOutput(t));
      }),
      { numRuns: 3000 },
    );
  });

  it("never lets an unterminated OSC swallow the lines after it", () => {
    expect(cleanOutput("a\x1b]0;t\nline2\nb\x07c\n")).toBe("a]0;t\nline2\nbc\n");
    expect(cleanOutput("\x1b]0;root@host: /var/log\x07out\n")).toBe("out\n");
  });

  it("removes a late marker with its line when it stands on a line of its own", () => {
    const m = "__SSHMCP_E_0123456789abcdef_0__";
    expect(cleanOutput(`out\r\n${m}\r\nnext\r\n`)).toBe("out\nnext\n");
    expect(cleanOutput(`out${m}\r\n`)).toBe("out\n");
    expect(cleanOutput(`\x1b[K${m}\r\nnext`)).toBe("next");
    expect(cleanOutput(`a\n__SSHMCP_B_0123456789abcdef__\nb`)).toBe("a\nb");
  });

  it("cleaning A (ending in a line break) then B equals cleaning A + B", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const head = a + "\n";
        expect(cleanOutput(head) + cleanOutput(b)).toBe(cleanOutput(head + b));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the OSC 133 marks", () => {
  it.each([0, 1, 2, 127, 130, 255])("read exit code %i, the output between them exactly", (code) => {
    for (const out of ["out", "line1\r\nline2\r\n", ""]) {
      const text = oscText(out, code);
      const b = findBegin(text, NONCE);
      const e = findEnd(text, NONCE, b);
      expect(e?.exitCode).toBe(code);
      expect(text.slice(b, e?.outputEnd)).toBe(out);
      expect(text.slice(e?.markerEnd)).toBe("$ ");
    }
  });

  it("find nothing until a whole mark has arrived, at every cut point", () => {
    const text = oscText("data", 127);
    const full = findEnd(text, NONCE);
    const markerEnd = full?.markerEnd ?? -1;
    const begin = findBegin(text, NONCE);
    for (let k = 0; k <= text.length; k++) {
      const cut = text.slice(0, k);
      expect(findBegin(cut, NONCE), `cut at ${k}`).toBe(k >= begin ? begin : -1);
      if (k < markerEnd) expect(findEnd(cut, NONCE), `cut at ${k}`).toBeUndefined();
      else expect(findEnd(cut, NONCE), `cut at ${k}`).toEqual(full);
    }
  });

  it("ignore marks of another nonce, and fit in MARKER_OVERLAP", () => {
    expect(findEnd(oscText("x", 0, "ffffffffffffffff"), NONCE)).toBeUndefined();
    expect(findBegin(oscText("x", 0, "ffffffffffffffff"), NONCE)).toBe(-1);
    expect(`\x1b]133;D;255;sshmcp=${NONCE}\x07`.length).toBeLessThanOrEqual(MARKER_OVERLAP);
  });

  it("are invisible once cleaned", () => {
    expect(cleanOutput(oscText("hi\r\n", 0))).not.toMatch(/133|sshmcp/);
  });
});
