import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanLong, cleanOutput } from "../../src/session/output/clean.js";

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
