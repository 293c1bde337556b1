import { z } from "zod";
import { errorMessage, SshMcpError } from "../errors.js";
import {
  mustShowPasswordPrompt,
  type HumanSecretOutcome,
  type HumanSecretRequest,
} from "../session/human-secret.js";
import type { SessionManager } from "../session/manager.js";
import type { Session } from "../session/session.js";
import { defineSessionTool, sessionId, type ToolContext } from "./types.js";

/**
 * ask_human_secret: the human types a secret (a sudo password) into a one-time page, and it goes
 * straight to the password prompt on screen; the agent never sees it.
 *
 * Design: the page is served by the viewer this MCP server already runs in its own process
 * (app.ts starts it, on loopback by default, with the session manager), so the page, the
 * pending request and the session share one process and no state crosses a process boundary:
 * the request lives in the manager (session/human-secret.ts), the page (viewer/plugins/secret.ts)
 * types through typeSecret. No viewer (SSH_MCP_VIEWER_PORT=off, or it failed to start), or a
 * viewer bound to a non-loopback address (the secret would cross a network in clear HTTP):
 * VIEWER_UNAVAILABLE. With URL elicitation the client opens the page and the call waits;
 * without it the call returns the URL for the agent to show, and a second call waits.
 */

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|::1|localhost)$/i;
const DEFAULT_WAIT_S = 120;

/** The page's base URL: the viewer of this server, on loopback only. */
function viewerBase(mgr: SessionManager): string {
  const base = mgr.viewerUrl(undefined, true);
  if (!base) {
    throw new SshMcpError(
      "VIEWER_UNAVAILABLE",
      "Nothing was asked: this server runs no viewer (SSH_MCP_VIEWER_PORT=off, or it could not start: see its log), and the human's page is served there. Restart the server with the viewer on, or let the human type at the prompt (tmux attach, or the viewer's operator URL).",
    );
  }
  if (!LOOPBACK.test(mgr.config.viewerHost)) {
    throw new SshMcpError(
      "VIEWER_UNAVAILABLE",
      `Nothing was asked: the viewer listens on ${mgr.config.viewerHost}, not loopback, and a secret would cross the network in clear HTTP. Run the server with SSH_MCP_VIEWER_HOST=127.0.0.1 (reach it through an SSH tunnel), or let the human type at the prompt.`,
    );
  }
  return base;
}

/** The wait's answer: typed, still waiting, or the coded refusal of what happened. */
function answer(r: HumanSecretRequest, outcome: HumanSecretOutcome | undefined): Record<string, unknown> {
  const again = "Nothing was typed. Call ask_human_secret again (without request_id) for a new page.";
  switch (outcome?.kind) {
    case undefined:
      return {
        state: "waiting_for_human",
        typed: false,
        request_id: r.id,
        expires_at: new Date(r.expiresAt).toISOString(),
        message: `The human has not answered yet; the page given before works until expires_at. Call ask_human_secret with request_id '${r.id}' to wait again.`,
      };
    case "typed":
      return {
        state: "typed",
        typed: true,
        request_id: r.id,
        message:
          "The human's secret was typed at the prompt (recorded as [HUMAN SECRET]). Whether it was accepted shows on the screen: get_screen.",
      };
    case "declined":
      throw new SshMcpError("HUMAN_DECLINED", `The human declined to type the secret. ${again}`);
    case "expired":
      throw new SshMcpError(
        "HUMAN_SECRET_EXPIRED",
        `The page expired unused at ${new Date(r.expiresAt).toISOString()}. ${again}`,
      );
    case "cancelled":
      throw new SshMcpError("HUMAN_SECRET_EXPIRED", `The request ended with the call that made it. ${again}`);
    case "refused":
      throw outcome.error;
  }
}

/**
 * Waits for the page's answer, up to `ms`, ending early when the call is cancelled. A progress
 * notification every 10 s (when the call asked for them) lets a client keep a long wait alive.
 */
async function waitFor(mgr: SessionManager, r: HumanSecretRequest, ms: number, ctx: ToolContext) {
  const started = Date.now();
  const { progress } = ctx.call;
  const ticker = progress
    ? setInterval(() => progress((Date.now() - started) / 1000, "waiting for the human"), 10_000)
    : undefined;
  try {
    const wait = Math.max(0, Math.min(ms, r.expiresAt - Date.now()));
    const outcome = await mgr.humanSecrets.wait(r.id, wait, ctx.call.signal);
    if (!outcome && ctx.call.signal.aborted) mgr.humanSecrets.settle(r.id, { kind: "cancelled" });
    return mgr.humanSecrets.get(r.id)?.outcome ?? outcome;
  } finally {
    clearInterval(ticker);
  }
}

/** A new request: the prompt checked, the page made, then URL elicitation or the URL returned. */
async function ask(mgr: SessionManager, s: Session, reason: string, ctx: ToolContext) {
  mustShowPasswordPrompt(s);
  const base = viewerBase(mgr);
  const { request: r, token } = mgr.humanSecrets.create(s.id, reason, {
    line: s.screen().line,
    lastRecvAt: s.stream.lastRecvAt,
  });
  const url = `${base}/secret/${r.id}?token=${token}`;
  const message = `Session ${s.id} (${s.profile.name}) waits at a password prompt. The agent asks you to type the secret on this one-time page (valid until ${new Date(r.expiresAt).toISOString()}): ${reason}`;
  if (!ctx.call.elicitation.url) {
    return { ...answer(r, undefined), url, message };
  }
  let action: string;
  try {
    ({ action } = await ctx.call.elicit(
      { mode: "url", message, url, elicitationId: r.id },
      r.expiresAt - Date.now(),
    ));
  } catch (err) {
    if (ctx.call.signal.aborted) {
      mgr.humanSecrets.settle(r.id, { kind: "cancelled" });
      throw err;
    }
    // No answer within the page's life: it is over.
    if (Date.now() >= r.expiresAt) mgr.humanSecrets.settle(r.id, { kind: "expired" });
    if (mgr.humanSecrets.get(r.id)?.outcome) return answer(r, mgr.humanSecrets.get(r.id)?.outcome);
    // The client could not show it (an error): the page still works.
    return {
      ...answer(r, undefined),
      url,
      message: `The client did not open the page (${errorMessage(err)}). Show this URL to the human; it works once, until expires_at: ${url}`,
    };
  }
  if (action !== "accept") {
    mgr.humanSecrets.settle(r.id, { kind: "declined" });
    return answer(r, { kind: "declined" });
  }
  const outcome = await waitFor(mgr, r, r.expiresAt - Date.now(), ctx);
  if (outcome && outcome.kind !== "cancelled") await ctx.call.elicitationDone(r.id).catch(() => undefined);
  return answer(r, outcome ?? { kind: "expired" });
}

/** A second call: waits on the request it made. */
async function again(mgr: SessionManager, s: Session, requestId: string, timeoutS: number, ctx: ToolContext) {
  const r = mgr.humanSecrets.get(requestId);
  if (!r) {
    throw new SshMcpError(
      "HUMAN_SECRET_EXPIRED",
      `No request '${requestId}' on this server: it ended over 10 minutes ago, or the server restarted (pending requests live in its memory only). Nothing was typed. Call ask_human_secret again without request_id.`,
    );
  }
  if (r.sessionId !== s.id) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `request_id '${requestId}' belongs to session '${r.sessionId}', not '${s.id}'.`,
    );
  }
  return answer(r, await waitFor(mgr, r, timeoutS * 1000, ctx));
}

export const humanTools = [
  defineSessionTool({
    name: "ask_human_secret",
    title: "Ask the human for a secret",
    description:
      "When the screen shows a password prompt (e.g. sudo's) and you do not have the secret: a human types it on a one-time page of the viewer, and it goes straight to the prompt. You never see it; the transcript records [HUMAN SECRET]. If the client can open URLs the call waits for the human; otherwise it returns state waiting_for_human with a url to show the human, then call again with request_id to wait.",
    inputSchema: z.object({
      session_id: sessionId,
      reason: z.string().min(1).max(500).describe("Why the secret is needed, shown to the human"),
      request_id: z
        .string()
        .regex(/^hs_[A-Za-z0-9_-]{16}$/, "must be a request_id returned by ask_human_secret")
        .optional()
        .describe("The request_id of an earlier waiting_for_human answer: wait for that request"),
      timeout: z
        .number()
        .gt(0)
        .max(600)
        .default(DEFAULT_WAIT_S)
        .describe("With request_id: seconds to wait for the human before answering waiting_for_human again"),
    }),
    annotations: { openWorldHint: true },
    access: "drive",
    handler: async (a, s, ctx) =>
      a.request_id ? again(ctx.manager, s, a.request_id, a.timeout, ctx) : ask(ctx.manager, s, a.reason, ctx),
  }),
];
