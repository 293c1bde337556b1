/**
 * The marks that bound a command's output in the stream, and finding them. Pure text handling,
 * unit-tested on its own; how a command is typed per shell family is in shells.ts.
 *
 * The marks are OSC 133 sequences with the command's nonce, invisible on a terminal:
 *   ESC ] 133 ; C ; sshmcp=NONCE BEL            output starts right after it
 *   ESC ] 133 ; D ; STATUS ; sshmcp=NONCE BEL    output ends right before it
 * Transcripts written before them carry text markers (`__SSHMCP_B_NONCE__` on a line of its
 * own, `\n__SSHMCP_E_NONCE_STATUS__`, one line break before it not output); both are read, so a
 * command started by an older server is still completed after adoption.
 */

const B = "__SSHMCP_B_";
const E = "__SSHMCP_E_";
const OSC_C = "\x1b]133;C;sshmcp=";
const OSC_D = "\x1b]133;D;";

export function beginMarker(nonce: string): string {
  return `${OSC_C}${nonce}\x07`;
}

export function endMarker(nonce: string, status: number): string {
  return `${OSC_D}${status};sshmcp=${nonce}\x07`;
}

/** Index just past the begin mark in `text`, or -1. */
export function findBegin(text: string, nonce: string, from = 0): number {
  const osc = beginMarker(nonce);
  const k = text.indexOf(osc, from);
  if (k !== -1) return k + osc.length;
  const m = `${B}${nonce}__`;
  const i = text.indexOf(m, from);
  if (i === -1) return -1;
  let j = i + m.length;
  if (text[j] === "\r") j++;
  if (text[j] === "\n") return j + 1;
  return j >= text.length ? -1 : j;
}

export interface EndMatch {
  /** Index where the command's output ends (the line break before the marker removed). */
  outputEnd: number;
  /** Index just past the marker. */
  markerEnd: number;
  exitCode: number;
}

export function findEnd(text: string, nonce: string, from = 0): EndMatch | undefined {
  const tail = `;sshmcp=${nonce}\x07`;
  let k = text.indexOf(tail, from);
  while (k !== -1) {
    // eslint-disable-next-line no-control-regex
    const head = /\x1b\]133;D;(\d{1,3})$/.exec(text.slice(Math.max(from, k - 12), k));
    if (head?.[1] !== undefined)
      return { outputEnd: k - head[0].length, markerEnd: k + tail.length, exitCode: Number(head[1]) };
    k = text.indexOf(tail, k + 1);
  }
  const m = `${E}${nonce}_`;
  let i = text.indexOf(m, from);
  while (i !== -1) {
    const rest = /^(\d{1,3})__/.exec(text.slice(i + m.length, i + m.length + 6));
    if (rest?.[1] !== undefined) {
      let outputEnd = i;
      if (text[outputEnd - 1] === "\n") outputEnd--;
      if (text[outputEnd - 1] === "\r") outputEnd--;
      return { outputEnd, markerEnd: i + m.length + rest[0].length, exitCode: Number(rest[1]) };
    }
    i = text.indexOf(m, i + 1);
  }
  return undefined;
}

/** Longest marker text, so incremental searches can back up this far across chunk edges. */
export const MARKER_OVERLAP = 64;
