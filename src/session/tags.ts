import { SshMcpError } from "../errors.js";
import { formatVar, SEP, setOptionCommand, type TmuxCommand } from "../tmux/command.js";
import type { Pane } from "../tmux/client.js";
import type { PaneFields, PaneInfo } from "../tmux/pane-info.js";

/**
 * ssh-mcp's tags: the user options on each session's tmux window, which make a window an
 * ssh-mcp session any server on the socket can find (docs/architecture.md: "Restarts, several
 * servers, humans"). Every name, the formats that read them, and how their values are written
 * and parsed are here; nothing else spells `@ssh_mcp_*` out.
 */

/** The option names. They are window options (TAG_SCOPE). */
export const TAG = {
  sessionId: "@ssh_mcp_session_id",
  profile: "@ssh_mcp_profile",
  /** The server that owns the session, and its pid. */
  serverInstanceId: "@ssh_mcp_server_instance_id",
  serverPid: "@ssh_mcp_server_pid",
  transcript: "@ssh_mcp_transcript",
  ownerLabel: "@ssh_mcp_owner_label",
  createdAt: "@ssh_mcp_created_at",
  /** The input lock, as JSON (locks.ts). */
  lock: "@ssh_mcp_lock",
  /** Set while the transcript cannot be written: why (recorder.ts). */
  recording: "@ssh_mcp_recording",
} as const;

export type TagName = keyof typeof TAG;
export type Tag = (typeof TAG)[TagName];

/** Where the tags live: on the window (a session has one window with one pane). */
const TAG_SCOPE = "window";

/** Each tag as a tmux format (`#{@ssh_mcp_lock}`), for list-panes, display-message, conditions. */
export const TAG_FORMAT = Object.fromEntries(
  Object.entries(TAG).map(([name, option]) => [name, formatVar(option)]),
) as { readonly [K in TagName]: string };

/** The tags read with every pane's state: whose session it is, and who may type into it. */
export interface PaneTags {
  sessionId: string;
  ownerInstance: string;
  ownerPid: number;
  /** The raw lock value (locks.ts's activeLock reads it); "" when unlocked. */
  lock: string;
}

/** A pane's state with ssh-mcp's tags (an untagged pane has them empty). */
export type TaggedPane = PaneInfo & PaneTags;

/** PaneTags as pane fields of the tmux client (session/tmux.ts). */
export const PANE_TAGS: PaneFields<PaneTags> = {
  formats: [TAG_FORMAT.sessionId, TAG_FORMAT.serverInstanceId, TAG_FORMAT.serverPid, TAG_FORMAT.lock],
  parse: ([sessionId = "", ownerInstance = "", pid, lock = ""]) => ({
    sessionId,
    ownerInstance,
    ownerPid: Number(pid ?? "0") || 0,
    lock,
  }),
};

/** What discovery reads of a session besides PaneTags: how to rebuild it. */
export interface SessionMetaTags {
  profile: string;
  transcript: string;
  ownerLabel: string;
  createdAt: string;
}

/** SessionMetaTags as extra formats of listPanes. */
export const SESSION_META: PaneFields<SessionMetaTags> = {
  formats: [TAG_FORMAT.profile, TAG_FORMAT.transcript, TAG_FORMAT.ownerLabel, TAG_FORMAT.createdAt],
  parse: ([profile = "", transcript = "", ownerLabel = "", createdAt = ""]) => ({
    profile,
    transcript,
    ownerLabel,
    createdAt,
  }),
};

/** The tags a new session's window gets (set in the invocation that creates it), in order. */
export function newSessionTags(o: {
  sessionId: string;
  profile: string;
  serverInstanceId: string;
  serverPid: number;
  transcript: string;
  ownerLabel: string | null;
  createdAt: string;
}): [Tag, string][] {
  return [
    [TAG.sessionId, o.sessionId],
    [TAG.profile, o.profile],
    ...ownerTags(o.serverInstanceId, o.serverPid),
    [TAG.transcript, o.transcript],
    [TAG.ownerLabel, o.ownerLabel ?? ""],
    [TAG.createdAt, o.createdAt],
  ];
}

/** The tags naming the server that owns a session. */
export function ownerTags(serverInstanceId: string, serverPid: number): [Tag, string][] {
  return [
    [TAG.serverInstanceId, serverInstanceId],
    [TAG.serverPid, String(serverPid)],
  ];
}

/**
 * A tag's value as it may be written: tags are read back in one line per pane, fields joined by
 * SEP, so a value holding SEP or a line break would shift every field after it (an owner label
 * could name another tmux session as this one's).
 */
function tagValue(tag: Tag, value: string): string {
  if (value.includes(SEP) || /[\r\n]/.test(value)) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `${tag.replace(/^@ssh_mcp_/, "")}: must not contain '${SEP}' or a line break. Nothing was created.`,
    );
  }
  return value;
}

/** The set-option commands that tag `target`'s window. */
export function tagCommands(target: string, tags: [Tag, string][]): TmuxCommand[] {
  return tags.map(([tag, value]) => setOptionCommand(target, tag, tagValue(tag, value), TAG_SCOPE));
}

export async function setTag(pane: Pane<PaneTags>, tag: Tag, value: string): Promise<void> {
  await pane.setOption(tag, tagValue(tag, value), TAG_SCOPE);
}

export async function unsetTag(pane: Pane<PaneTags>, tag: Tag): Promise<void> {
  await pane.unsetOption(tag, TAG_SCOPE);
}
