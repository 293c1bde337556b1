import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { errorMessage, SshMcpError } from "../errors.js";
import { redactText } from "../transcript/redact.js";
import type { SessionHost } from "./host.js";
import { secretPromptRefusal, typeSecret, type PromptMatcher } from "./operations.js";
import type { Session } from "./session.js";

/**
 * Pending ask_human_secret requests (docs/security.md, "A secret from the human"): a request id
 * (the handle the agent holds) and a one-time page token, of which only its SHA-256 is kept.
 * A request lives in this server's memory only (a restart drops it), ends on the first use of
 * its page (typed, refused or declined), when its tool call is cancelled, or after its life
 * (5 minutes): HUMAN_SECRET_EXPIRED. The secret itself never passes through here: the page
 * hands it straight to typeSecret.
 */

/** How long a page stays usable. */
export const HUMAN_SECRET_TTL_MS = 5 * 60_000;
/** How long a finished request's outcome stays readable by a second call. */
const KEEP_OUTCOME_MS = 10 * 60_000;

export type HumanSecretOutcome =
  | { kind: "typed" }
  | { kind: "declined" }
  | { kind: "expired" }
  | { kind: "cancelled" }
  /** The page was used but typing was refused (NO_PASSWORD_PROMPT, INPUT_LOCKED, ...). */
  | { kind: "refused"; error: SshMcpError };

export interface HumanSecretRequest {
  id: string;
  sessionId: string;
  reason: string;
  createdAt: number;
  expiresAt: number;
  /**
   * The password prompt the human was asked at: its line and when the session last printed.
   * The value is typed only if the same prompt still waits, with nothing printed since (the
   * agent cannot swap in another program's prompt after asking).
   */
  prompt?: { line: string; lastRecvAt: number };
  /** Undefined while the page waits for the human. */
  outcome?: HumanSecretOutcome;
}

interface Entry {
  request: HumanSecretRequest;
  tokenHash: Buffer;
  timer: NodeJS.Timeout;
  waiters: Set<() => void>;
  /** The page was used (claim): no second use, and neither expiry nor a cancel ends it now. */
  claimed: boolean;
}

/** How much earlier than Date.now() says a Node timer may run. */
const EARLY_TIMER_MS = 25;

/**
 * Why a page token is refused: unknown request (404), wrong token (403), already used, expired
 * or ended with its cancelled call (410).
 */
export type TokenRefusal = "unknown" | "bad_token" | "used" | "expired" | "cancelled";

const hash = (token: string): Buffer => createHash("sha256").update(token).digest();

export class HumanSecretRequests {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs = HUMAN_SECRET_TTL_MS) {}

  /** A new request and its page token (returned once, kept only as a hash). */
  create(
    sessionId: string,
    reason: string,
    prompt?: HumanSecretRequest["prompt"],
  ): { request: HumanSecretRequest; token: string } {
    this.prune();
    const now = Date.now();
    const request: HumanSecretRequest = {
      id: `hs_${randomBytes(12).toString("base64url")}`,
      sessionId,
      reason,
      createdAt: now,
      expiresAt: now + this.ttlMs,
      ...(prompt ? { prompt } : {}),
    };
    const token = randomBytes(32).toString("base64url");
    // Not kept alive by its timer: a server with nothing else to do may exit.
    const timer = setTimeout(() => this.settle(request.id, { kind: "expired" }), this.ttlMs).unref();
    this.entries.set(request.id, {
      request,
      tokenHash: hash(token),
      timer,
      waiters: new Set(),
      claimed: false,
    });
    return { request, token };
  }

  get(id: string): HumanSecretRequest | undefined {
    return this.entries.get(id)?.request;
  }

  /** The request a page token opens, or why not. */
  check(id: string, token: unknown): HumanSecretRequest | TokenRefusal {
    const e = this.entries.get(id);
    if (!e) return "unknown";
    if (typeof token !== "string" || !timingSafeEqual(hash(token), e.tokenHash)) return "bad_token";
    const o = e.request.outcome;
    if (o) return o.kind === "expired" || o.kind === "cancelled" ? o.kind : "used";
    return e.claimed ? "used" : e.request;
  }

  /** check(), and the page is used: the one submission that may type or decline. */
  claim(id: string, token: unknown): HumanSecretRequest | TokenRefusal {
    const r = this.check(id, token);
    const e = this.entries.get(id);
    if (typeof r === "string" || !e) return r;
    e.claimed = true;
    clearTimeout(e.timer);
    return r;
  }

  /** Ends a request (the first outcome wins) and wakes its waiters. */
  settle(id: string, outcome: HumanSecretOutcome): void {
    const e = this.entries.get(id);
    if (!e || e.request.outcome) return;
    // A claimed page is typing or declining: only that ends it.
    if (e.claimed && (outcome.kind === "expired" || outcome.kind === "cancelled")) return;
    e.request.outcome = outcome;
    clearTimeout(e.timer);
    for (const wake of e.waiters) wake();
    e.waiters.clear();
  }

  /**
   * Waits up to `ms` for the request's outcome (undefined: still waiting). An aborted signal
   * ends the wait early (the caller decides what that means).
   */
  async wait(id: string, ms: number, signal?: AbortSignal): Promise<HumanSecretOutcome | undefined> {
    const e = this.entries.get(id);
    if (!e || e.request.outcome || signal?.aborted) return e?.request.outcome;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        e.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      e.waiters.add(done);
    });
    // A wait that ends with the request's life sees it expired, even before the request's own
    // timer fired: Node runs a timer by its loop's cached clock, a few ms ahead of Date.now().
    if (Date.now() + EARLY_TIMER_MS >= e.request.expiresAt) this.settle(id, { kind: "expired" });
    return e.request.outcome;
  }

  /** Drops requests whose outcome nobody can still ask for. */
  /** Ends every request of a session that stopped being open: its waiting calls answer `error`. */
  endSession(sessionId: string, error: SshMcpError): void {
    for (const [id, e] of this.entries) {
      if (e.request.sessionId === sessionId) this.settle(id, { kind: "refused", error });
    }
  }

  private prune(): void {
    const cutoff = Date.now() - KEEP_OUTCOME_MS;
    for (const [id, e] of this.entries) {
      if (e.request.outcome && e.request.expiresAt < cutoff) this.entries.delete(id);
    }
  }
}

/** The secret's label in the transcript (the value is never recorded). */
export const HUMAN_SECRET_LABEL = "[HUMAN SECRET]";

/**
 * Whether the human may be asked now: a password prompt waiting on screen (secretPromptRefusal).
 * NO_PASSWORD_PROMPT otherwise, before anything is asked.
 */
export function mustShowPasswordPrompt(s: Session): void {
  const why = secretPromptRefusal(s);
  if (!why) return;
  throw new SshMcpError(
    "NO_PASSWORD_PROMPT",
    `Nothing was asked: ${why}. Run the command that asks (e.g. sudo) first; get_screen shows the prompt, then call ask_human_secret again.`,
    { screen: redactText(s.screen().line).slice(-200) },
  );
}

/** The prompt the request was made at, still there with nothing printed since (typeSecret checks it). */
function samePrompt(s: Session, request: HumanSecretRequest): PromptMatcher | undefined {
  const p = request.prompt;
  if (!p) return undefined;
  return {
    source: "the prompt the human was asked at, with nothing printed since",
    test: (line: string) => line === p.line && s.stream.lastRecvAt === p.lastRecvAt,
  };
}

/**
 * The page's submit, on a claimed request: types the human's value at the prompt through typeSecret (as actor human,
 * recorded as HUMAN_SECRET_LABEL), then ends the request, typed or refused with typeSecret's
 * coded error (which the waiting tool call returns). The value is used here and dropped.
 */
export async function typeHumanSecret(
  host: SessionHost,
  requests: HumanSecretRequests,
  request: HumanSecretRequest,
  value: string,
): Promise<HumanSecretOutcome> {
  let outcome: HumanSecretOutcome;
  try {
    const session = await host.access(request.sessionId, "drive", { actor: "human" });
    await typeSecret(
      host,
      { session, fast: false },
      {
        value,
        shown: HUMAN_SECRET_LABEL,
        tool: "ask_human_secret",
        actor: "human",
        prompt: samePrompt(session, request),
      },
    );
    outcome = { kind: "typed" };
  } catch (err) {
    const coded =
      err instanceof SshMcpError
        ? err
        : new SshMcpError("INTERNAL_ERROR", "Typing the secret failed; see the server's log.");
    outcome = { kind: "refused", error: coded };
    // The value is cut out of the message, should any layer below have quoted it.
    const error = errorMessage(err).split(value).join(HUMAN_SECRET_LABEL);
    if (coded !== err) host.logger.error("ask_human_secret: typing failed", { error });
  }
  requests.settle(request.id, outcome);
  return outcome;
}
