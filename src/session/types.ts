export type SessionStatus = "open" | "unhealthy" | "closed";
export type CommandStatus =
  "completed" | "running" | "cancelled" | "session_closed" | "failed" | "incomplete";
export type Completion = "marker" | "prompt" | "idle" | "timeout" | "not_started";

/** What tools return about a command. */
export interface CommandResult {
  command_id: string;
  command: string;
  status: CommandStatus;
  exit_code: number | null;
  output: string;
  output_truncated: boolean;
  timed_out: boolean;
  completion: Completion;
  started_at: string;
  completed_at: string | null;
  /** The shell the command was typed into (bash, zsh, sh, fish, tcsh...; "other": no shell answered). */
  shell?: string;
  /** A running command whose screen settled on a question for the user (docs/shells.md). */
  state?: "awaiting_input";
  input_kind?: "password" | "confirm" | "pager" | "editor" | "repl" | "other";
  /** The line that asks (redacted). */
  prompt?: string;
  /** Recording stopped while it ran: some of its output may be missing (a gap event says when). */
  output_gap?: boolean;
  /** Why it is incomplete (status incomplete). */
  reason?: string;
}

export interface SessionInfo {
  session_id: string;
  profile: string;
  host: string;
  port: number;
  username: string | null;
  owner_label: string | null;
  client_label: string;
  server_instance_id: string;
  status: SessionStatus;
  health_error: string | null;
  created_at: string;
  last_activity_at: string;
  transcript_path: string;
  viewer_url: string | null;
  tmux_target: string;
  attach_command: string;
  bridge: "native" | "ssh2";
  active_command_id: string | null;
  /**
   * The shell at the prompt as last probed: family posix/fish/csh with its name (bash, zsh, sh,
   * ash, ksh, fish, tcsh, csh); "other" when no shell answered (a menu, a REPL, a device CLI);
   * "unknown" before any probe. Null for another server's session.
   */
  shell: { family: string; name: string | null } | null;
  attached_clients: number;
  /** False for a session of another live server: listed, driven only with force. */
  owned_by_this_server: boolean;
  /** Set by reopen_session: the session this one replaces. */
  previous_session_id: string | null;
  input_lock: InputLock | null;
  /** Whether what the pane prints is being recorded (docs/audit.md); null for another server's session. */
  recording: "ok" | "unavailable" | null;
}

export interface InputLock {
  actor: string;
  acquired_at: string;
  expires_at: string;
}
