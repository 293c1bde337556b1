export type SessionStatus = "open" | "unhealthy" | "closed";
export type CommandStatus = "completed" | "running" | "cancelled" | "session_closed" | "failed";
export type Completion = "marker" | "prompt" | "idle" | "timeout";

/** What tools return about a command (SPEC CommandResult). */
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
  attached_clients: number;
  /** False for a session of another live server: listed, driven only with force. */
  owned_by_this_server: boolean;
  /** Set by reopen_session: the session this one replaces. */
  previous_session_id: string | null;
  input_lock: InputLock | null;
}

export interface InputLock {
  actor: string;
  acquired_at: string;
  expires_at: string;
}
