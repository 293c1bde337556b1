import { describe, expect, it } from "vitest";
import { CommandCapture, outputOfText } from "../../src/session/capture.js";
import { capOutput, OutputDigest } from "../../src/session/output/budget.js";
import { CLEAN_PIECE, cleanOutput } from "../../src/session/output/clean.js";
import { beginMarker, endMarker } from "../../src/session/output/markers.js";
import { OutputStream } from "../../src/session/stream.js";

/** CommandCapture's state machine fed with a stream directly (no session, no transcript). */
const NONCE = "0123456789abcdef";

function marker(stream = new OutputStream(), hold = 256 * 1024): CommandCapture {
  return new CommandCapture(stream, { mode: "marker", nonce: NONCE }, hold, 100);
}

/** Appends `text` in chunks of `step` and scans after each, as Session.onRecv does. */
function feed(c: CommandCapture, stream: OutputStream, text: string, step = text.length) {
  let end;
  for (let i = 0; i < text.length; i += step) {
    stream.append(text.slice(i, i + step));
    end = c.scan() ?? end;
  }
  return end;
}

const LINES = (n: number): string => Array.from({ length: n }, (_, i) => `\x1b[1m${i}\x1b[0m\r\n`).join("");

describe("CommandCapture", () => {
  it("starts awaiting its begin mark (marker mode), searching only what is new", () => {
    const stream = new OutputStream();
    stream.append("old prompt $ ");
    const c = marker(stream);
    expect(c.state).toEqual({ kind: "awaiting_begin", scanFrom: 13 });
    expect(c.awaitingBegin).toBe(true);
    expect(feed(c, stream, " __mcp_b typed line\r\n")).toBeUndefined();
    expect(c.state).toEqual({ kind: "awaiting_begin", scanFrom: stream.end });
    expect(c.soFar("", 0)).toBe("");
    expect(c.settle(stream.end, 0)).toBeUndefined();
    expect(c.capHeld(1000)).toBeUndefined();
  });

  it("awaiting_begin -> streaming when the begin mark comes, however it is cut", () => {
    const mark = beginMarker(NONCE);
    for (let k = 1; k < mark.length; k++) {
      const stream = new OutputStream();
      const c = marker(stream);
      feed(c, stream, `echo\r\n${mark.slice(0, k)}`);
      expect(c.state.kind).toBe("awaiting_begin");
      feed(c, stream, `${mark.slice(k)}out`);
      expect(c.state).toMatchObject({ kind: "streaming", outStart: 6 + mark.length, noBreakTo: 0 });
      expect(c.soFar("", 0)).toBe("out");
    }
  });

  it("streaming: the end mark at absolute offsets; settle gives the whole; close -> finished_held", () => {
    const stream = new OutputStream();
    stream.append("before");
    const c = marker(stream);
    const text = `${beginMarker(NONCE)}a\r\nb\r\n${endMarker(NONCE, 7)}$ `;
    const e = feed(c, stream, text, 5);
    const start = 6 + beginMarker(NONCE).length;
    expect(e).toEqual({ outputEnd: start + 6, markerEnd: stream.end - 2, exitCode: 7 });
    expect(stream.slice(start, e?.outputEnd)).toBe("a\r\nb\r\n");
    expect(c.settle(e?.outputEnd ?? 0, 999)).toBe("a\nb\n");
    expect(c.state.kind).toBe("streaming");
    c.close();
    expect(c.state).toEqual({ kind: "finished_held" });
    expect(c.preview).toBeUndefined();
  });

  it("streaming cleans ahead in 64 kB pieces cut after a line break, letting the raw text go", () => {
    const stream = new OutputStream();
    const c = marker(stream);
    const body = LINES(40_000);
    feed(c, stream, beginMarker(NONCE));
    feed(c, stream, body, 4096);
    const st = c.state;
    if (st.kind !== "streaming") throw new Error(st.kind);
    expect(st.cleanedTo - st.outStart).toBeGreaterThan(body.length - CLEAN_PIECE - 64);
    expect(stream.slice(st.cleanedTo - 1, st.cleanedTo)).toBe("\n");
    // The pin moved with the cleaning: the stream may drop what is cleaned.
    stream.trim(0);
    expect(stream.kept).toBeLessThan(CLEAN_PIECE + 4096 + 64);
    expect(c.soFar("", 0)).toBe(cleanOutput(body));
    expect(c.capHeld(1000)).toEqual(capOutput(cleanOutput(body), 1000));
  });

  it("a long line is searched for a line break once (noBreakTo), and cleaned with what follows", () => {
    const stream = new OutputStream();
    const c = marker(stream);
    feed(c, stream, beginMarker(NONCE));
    feed(c, stream, "x".repeat(200_000), 4096);
    expect(c.state).toMatchObject({ kind: "streaming", noBreakTo: stream.end - 64 });
    const e = feed(c, stream, `\r\nend\r\n${endMarker(NONCE, 0)}`);
    expect(c.settle(e?.outputEnd ?? 0, 0)).toBe(`${"x".repeat(200_000)}\nend\n`);
  });

  it("streaming -> finished_digest when it settles long: head, tail, length and the transcript span", () => {
    const stream = new OutputStream();
    const c = marker(stream, 1000);
    const body = LINES(30_000);
    feed(c, stream, beginMarker(NONCE));
    const e = feed(c, stream, body + endMarker(NONCE, 0), 5000);
    const out = c.settle(e?.outputEnd ?? 0, 4242);
    expect(out).toBeInstanceOf(OutputDigest);
    expect(c.state).toMatchObject({ kind: "finished_digest", span: { from: 100, to: 4242 } });
    c.close();
    expect(c.state.kind).toBe("finished_digest");
    expect(c.preview?.length).toBe(cleanOutput(body).length);
    expect(c.capHeld(1000)).toEqual(capOutput(cleanOutput(body), 1000));
    expect(c.capHeld(1001)).toBeUndefined();
  });

  it("finished_digest -> finished_held once read back short (held); a replay sets a span (onTranscript)", () => {
    const c = marker();
    c.close();
    expect(c.state).toEqual({ kind: "finished_held" });
    c.onTranscript(10, 20);
    expect(c.state).toEqual({ kind: "finished_digest", span: { from: 10, to: 20 }, preview: undefined });
    expect(c.capHeld(100)).toBeUndefined();
    c.held();
    expect(c.state).toEqual({ kind: "finished_held" });
  });

  it("awaiting_begin finished otherwise: settleAt is all that came since it was sent", () => {
    const stream = new OutputStream();
    stream.append("old");
    const c = marker(stream);
    feed(c, stream, "\x1b[1mnested$\x1b[0m ");
    expect(c.settleAt(stream.end, 0)).toBe("nested$ ");
    c.close();
    expect(c.state.kind).toBe("finished_held");
  });

  it("raw mode is streaming_raw from the start: no marks, the echo dropped", () => {
    const stream = new OutputStream();
    const c = new CommandCapture(stream, { mode: "raw", nonce: NONCE, echo: "3" }, 1000, 0);
    expect(c.state).toEqual({ kind: "streaming_raw" });
    expect(c.awaitingBegin).toBe(false);
    expect(feed(c, stream, `menu> 3\r\nYou picked 3\r\n${endMarker(NONCE, 0)}`)).toBeUndefined();
    expect(c.soFar("", 0)).toBe("You picked 3\n");
    expect(c.settle(stream.end, 0)).toBeUndefined();
    expect(c.capHeld(100)).toBeUndefined();
    c.close();
    expect(c.state.kind).toBe("finished_held");
  });

  it("restartAtEnd (replay) goes back to waiting at the stream's end, from a new transcript offset", () => {
    const stream = new OutputStream();
    const c = marker(stream);
    feed(c, stream, `${beginMarker(NONCE)}partial`);
    expect(c.state.kind).toBe("streaming");
    c.restartAtEnd(555);
    expect(c.state).toEqual({ kind: "awaiting_begin", scanFrom: stream.end });
    expect(c.streamStart).toBe(stream.end);
    expect(c.from).toBe(555);
    // The earlier begin mark is behind the start: only a new one counts.
    stream.append(" more");
    expect(c.scan()).toBeUndefined();
    expect(c.state.kind).toBe("awaiting_begin");
    const raw = new CommandCapture(stream, { mode: "raw", nonce: NONCE }, 1000, 0);
    raw.restartAtEnd();
    expect(raw.state).toEqual({ kind: "streaming_raw" });
  });

  it("outputOfText gives what the live path keeps", () => {
    const text = `x${beginMarker(NONCE)}a\r\n\x1b[1mb\x1b[0m${endMarker(NONCE, 1)}$ `;
    expect(outputOfText(text, { mode: "marker", nonce: NONCE })).toBe("a\nb");
    expect(outputOfText("nothing", { mode: "marker", nonce: NONCE })).toBe("");
    expect(outputOfText("ls\r\nfile\r\n", { mode: "raw", nonce: NONCE, echo: "ls" })).toBe("file\n");
  });
});
