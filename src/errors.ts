/**
 * One error type for everything a tool can refuse. The MCP layer turns any SshMcpError into
 * `{ok:false, error, code}`; anything else becomes INTERNAL_ERROR without a stack trace.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "CONFIG_ERROR"
  | "UNKNOWN_PROFILE"
  | "TARGET_NOT_ALLOWED"
  | "UNKNOWN_SESSION"
  | "UNKNOWN_COMMAND"
  | "SESSION_CLOSED"
  | "SESSION_UNHEALTHY"
  | "COMMAND_RUNNING"
  | "NOT_STARTED"
  | "SCREEN_BUSY"
  | "TRANSCRIPT_UNAVAILABLE"
  | "SECRET_MISSING"
  | "UNKNOWN_SECRET"
  | "NO_PASSWORD_PROMPT"
  | "APPROVAL_DECLINED"
  | "APPROVAL_UNAVAILABLE"
  | "VIEWER_UNAVAILABLE"
  | "HUMAN_DECLINED"
  | "HUMAN_SECRET_EXPIRED"
  | "KEY_NOT_FOUND"
  | "HOST_KEY_MISMATCH"
  | "HOST_KEY_UNKNOWN"
  | "AUTH_FAILED"
  | "CONNECTION_FAILED"
  | "CONNECT_TIMEOUT"
  | "ROUTE_FAILED"
  | "SESSION_OWNED_ELSEWHERE"
  | "INPUT_LOCKED"
  | "POLICY_BLOCKED"
  | "TMUX_ERROR"
  | "INTERNAL_ERROR";

export class SshMcpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "SshMcpError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
