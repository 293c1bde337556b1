import type { ProfileCatalog } from "../config/catalog.js";
import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { AskpassServer } from "../ssh/askpass-server.js";
import type { TmuxCommand } from "../tmux/command.js";
import type { Session } from "./session.js";
import type { SessionTmux } from "./tmux.js";
import type { SessionStatus } from "./types.js";

/**
 * The session contract: what the helpers (open, adopt, locks, operations, recorder, search, the
 * tools and the viewer's input) may ask of the session manager, and what each member promises.
 * The manager implements it; helpers import this type only, never the manager, so they cannot
 * reach into its table of sessions or its dependencies (docs/architecture.md: "Session contract").
 */
export interface SessionHost {
  /** The loaded configuration (profiles, timings, output caps). Its profiles are live (catalog.ts). */
  readonly config: Config;
  /** The live profiles: the last reload's error, resolution in progress (absent in hand-built hosts). */
  readonly catalog?: ProfileCatalog;
  /** The server's tmux client: every pane's state comes with ssh-mcp's tags (tmux.ts). */
  readonly tmux: SessionTmux;
  readonly logger: Logger;
  /** This server's instance id: the owner written into the windows it drives (tags.ts). */
  readonly instanceId: string;
  /** The server's environment (where profiles' secrets are read from). */
  readonly env: NodeJS.ProcessEnv;
  /** Where new transcripts are written. */
  readonly transcriptsDir: string;
  /** The recorder (tap) script tmux pipes each pane to. */
  readonly tapScript: string;
  /** Hands secrets to ssh's askpass helper (open.ts). */
  readonly askpass: AskpassServer;
  /** Resolves once start-up adoption is done; `access` waits for it. */
  readonly ready: Promise<void>;

  /** The viewer URL of a session (or of the index), with the read token unless bare; null when off. */
  viewerUrl(sessionId?: string, bare?: boolean): string | null;
  /** A configured profile; UNKNOWN_PROFILE (naming the ones there are) otherwise. */
  profile(name: string): Profile;

  /** A session this server holds, with no check of any kind (undefined when it holds none). */
  known(sessionId: string): Session | undefined;
  /** Every session this server holds (open or not), in the order they came. */
  all(): Session[];
  /** Starts holding a session (a new login, an adoption): listed, checked for health, found by id. */
  register(session: Session): void;
  /**
   * Stops holding a session that never became one (a login that failed): no longer listed, and
   * its watcher, timer and descriptors are released. Nothing is written to its transcript.
   */
  forget(session: Session): void;

  /**
   * A session, looked up and authorised for what the caller is about to do (see AccessLevel):
   * the one lookup every tool makes. Refusals are coded errors that say what to do next
   * (UNKNOWN_SESSION, SESSION_OWNED_ELSEWHERE, SESSION_CLOSED, SESSION_UNHEALTHY,
   * TRANSCRIPT_UNAVAILABLE, INPUT_LOCKED, POLICY_BLOCKED); a refused forcing is recorded.
   */
  access<L extends AccessLevel>(sessionId: string, level: L, opts?: AccessOptions): Promise<Granted[L]>;
  /**
   * The fast path's send: runs `commands` (one tmux message, fitsOneMessage) only if the window
   * is still ours, alive, unlocked and piped to its recorder (and `also`, a tmux condition,
   * holds), checked inside tmux in the same message. False: nothing ran, and the session's next
   * input takes the full check.
   */
  sendChecked(session: Session, commands: TmuxCommand[], also?: string): Promise<boolean>;

  /** Makes the session's status what the pane says (dead: closed or unhealthy, with the reason). */
  applyPaneState(
    session: Session,
    info: { dead: boolean; deadStatus: number | null; attachedClients: number } | undefined,
  ): void;
  /**
   * Changes a session's status (recorded, logged, waiters woken); a session no longer open
   * finishes its running command and releases its watcher, timer and descriptors.
   */
  setStatus(session: Session, status: SessionStatus, reason: string | null): void;
  /** Releases what a session that is over still holds (it stays listed). */
  releaseResources(session: Session): void;
  /** Starts the health and recorder checks, once sessions exist (idempotent). */
  startHealthMonitor(): void;
}

/**
 * What a caller may do with a session, from least to most:
 * - observe: read its screen and transcript. Ours, an orphan (adopted), or another live server's
 *   read in place (a ReadTarget, never driven).
 * - read: its state and commands. Ours, or an orphan (adopted); another live server's is
 *   SESSION_OWNED_ELSEWHERE.
 * - claim: act on it as its owner, whatever its status (locks, reopen). Ours, an orphan, or,
 *   with force, another live server's taken over (recorded).
 * - close: end it. claim, and if it is open: not locked by another actor (INPUT_LOCKED, or with
 *   force an override, recorded, refused under readonly). A session that is unhealthy or cannot
 *   record may still be closed.
 * - drive: type into it. claim, and open (checked against tmux), recording, and not locked by
 *   another actor (as for close).
 * - send: drive for execute_command and send_text, on the hot path. When the session's last full
 *   check found its window ours, alive and unlocked, it is granted with no tmux call (`fast`):
 *   the send itself must then go through `sendChecked` (operations.ts's checkedSend does).
 */
export type AccessLevel = "observe" | "read" | "claim" | "close" | "drive" | "send";

/** Who acts, and whether to override another server's ownership or another actor's input lock. */
export interface AccessOptions {
  force?: boolean;
  /** "agent" (every MCP call) unless said otherwise; the viewer's typing is "human". */
  actor?: string;
}

/** What each access level hands over. */
export interface Granted {
  observe: ReadTarget;
  read: Session;
  claim: Session;
  close: Session;
  drive: Session;
  send: SendTarget;
}

/** A session granted for sending (access level "send"). */
export interface SendTarget {
  session: Session;
  /** Only the fast check passed (no tmux call): input goes through sendChecked, or the full check first. */
  fast: boolean;
}

/**
 * What a read-only tool needs of a session: ours, or (reading is not driving) a pane and a
 * transcript of another live server's session, found in tmux.
 */
export interface ReadTarget {
  /** Whether the screen is shown redacted (the profile's redact_transcripts). */
  redact?: boolean;
  id: string;
  paneId: string;
  transcriptPath: string;
  status: string;
  profile: { width: number; height: number };
}
