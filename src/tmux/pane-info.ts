import { formatVar, SEP } from "./command.js";

/**
 * A pane's state as one format line (display-message, list-panes -F), and the fields a caller
 * adds to it: its own user options, read in the same tmux call as the pane's state.
 */

export interface PaneInfo {
  paneId: string;
  dead: boolean;
  deadStatus: number | null;
  cursorX: number;
  cursorY: number;
  width: number;
  height: number;
  alternate: boolean;
  pid: number;
  /** Clients attached to the pane's session. */
  attachedClients: number;
  /** tmux pipes the pane's output to a process (pipe-pane); false once that pipe closed. */
  piped: boolean;
}

const PANE_VARS = [
  "pane_id",
  "pane_dead",
  "pane_dead_status",
  "cursor_x",
  "cursor_y",
  "pane_width",
  "pane_height",
  "alternate_on",
  "pane_pid",
  "session_attached",
  "pane_pipe",
];

/** The format of a pane's state: the fields parsePaneLine reads, in order. */
export const PANE_FORMAT = PANE_VARS.map(formatVar).join(SEP);

/** Fields of PANE_FORMAT; a caller's fields come after these. */
export const PANE_FIELDS = PANE_VARS.length;

/**
 * Fields a caller reads with every pane's state (Tmux's paneInfo and listPanes), typically its
 * own user options (`#{@my_option}`): their formats, and how their values become `T`.
 */
export interface PaneFields<T extends object> {
  readonly formats: readonly string[];
  /** The values of `formats`, in order (an unset option reads as ""). */
  parse(values: readonly string[]): T;
}

/** No fields of the caller's. */
export const NO_FIELDS: PaneFields<object> = { formats: [], parse: () => ({}) };

/** The pane's state from a line of PANE_FORMAT (further fields are ignored). */
export function parsePaneLine(line: string): PaneInfo | undefined {
  return parseFields(line.split(SEP));
}

function parseFields(f: string[]): PaneInfo | undefined {
  if (f.length < PANE_FIELDS || !f[0]?.startsWith("%")) return undefined;
  const num = (s: string | undefined): number => Number(s ?? "0") || 0;
  return {
    paneId: f[0],
    dead: f[1] === "1",
    deadStatus: f[2] === "" || f[2] === undefined ? null : Number(f[2]),
    cursorX: num(f[3]),
    cursorY: num(f[4]),
    width: num(f[5]),
    height: num(f[6]),
    alternate: f[7] === "1",
    pid: num(f[8]),
    attachedClients: num(f[9]),
    piped: f[10] === "1",
  };
}

/**
 * A line of PANE_FORMAT, then `fields`' formats, then any extra formats (all joined by SEP): the
 * pane's state with the caller's fields, and the extra values.
 */
export function parsePaneRow<T extends object>(
  line: string,
  fields: PaneFields<T>,
): { info: PaneInfo & T; extra: string[] } | undefined {
  const f = line.split(SEP);
  const end = PANE_FIELDS + fields.formats.length;
  if (f.length < end) return undefined;
  const info = parseFields(f);
  if (!info) return undefined;
  return { info: Object.assign(info, fields.parse(f.slice(PANE_FIELDS, end))), extra: f.slice(end) };
}
