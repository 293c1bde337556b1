import { Redactor, redactText } from "../transcript/redact.js";
import type { TranscriptEvent } from "../transcript/writer.js";

/**
 * What the viewer shows besides the tap's output, through the same redactor: the text of
 * transcript events the server wrote itself (commands as asked, send_text, keys, the human's
 * typing, screen lines quoted in events), and the live screen, which is captured from the pane
 * and never passed through the tap. Output (`recv`) is left alone: the tap redacted it already,
 * line by line with its state across reads, which a second pass per event could only break.
 */

/** Fields that are identifiers or structure, never free text: shown as they are. */
const STRUCTURAL = new Set([
  "ts",
  "session_id",
  "dir",
  "command_id",
  "nonce",
  "tool",
  "actor",
  "mode",
  "shell",
  "event",
  "status",
  "completion",
  "server_instance_id",
  "previous_session_id",
  "tmux_target",
  "bridge",
]);

function redactValue(v: unknown): unknown {
  if (typeof v === "string") return redactText(v);
  if (Array.isArray(v)) return v.map(redactValue);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactValue(x)]));
  }
  return v;
}

/** An event as the viewer serves it: every free-text field redacted, output as the tap wrote it. */
export function redactEvent(ev: TranscriptEvent): TranscriptEvent {
  if (ev.dir === "recv") return ev;
  const out: TranscriptEvent = { ...ev };
  for (const [k, v] of Object.entries(ev)) if (!STRUCTURAL.has(k)) out[k] = redactValue(v);
  return out;
}

// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;:?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;

// eslint-disable-next-line no-control-regex
const SGR = /^\x1b\[[0-9;:]*m$/;

export function stripEscapes(line: string): string {
  return line.replace(ESCAPES, "");
}

/** Colors only: any other sequence (a hyperlink's URL, a title) is dropped, never shown unread. */
function colorsOnly(line: string): string {
  return line.replace(ESCAPES, (seq) => (SGR.test(seq) ? seq : ""));
}

/**
 * Lines of a pane capture (colors as SGR sequences), top to bottom, redacted with one redactor
 * so a key block is masked from its BEGIN line on. The decision is taken on the plain text, so it
 * does not depend on where colors split a keyword: a line the redactor leaves alone keeps its
 * colors, a line it changes is shown as the redacted plain text.
 */
export function redactScreenLines(lines: string[]): string[] {
  const r = new Redactor();
  return lines.map((line) => {
    const plain = stripEscapes(line);
    const out = r.line(plain + "\n");
    if (out === plain + "\n") return colorsOnly(line);
    return "\x1b[0m" + out.replace(/\r?\n$/, "").replace(/\r?\n/g, " ");
  });
}
