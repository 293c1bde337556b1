import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cleanOutput } from "../../src/session/output/clean.js";
import { beginMarker, findBegin, findEnd, MARKER_OVERLAP } from "../../src/session/output/markers.js";
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
