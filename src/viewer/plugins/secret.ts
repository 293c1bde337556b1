import type { FastifyPluginAsync, FastifyReply } from "fastify";
import type { HumanSecretRequest, TokenRefusal } from "../../session/human-secret.js";
import { typeHumanSecret } from "../../session/human-secret.js";
import type { SessionManager } from "../../session/manager.js";
import { redactText } from "../../transcript/redact.js";
import type { ViewerPluginOptions } from "../context.js";
import { secretFormPage, secretResultPage } from "../secret-page.js";
import { contentSecurityPolicy } from "../security.js";

/** The one-time page's path: the guards leave its token to this plugin. */
export const SECRET_PAGE_RE = /^\/secret\/[A-Za-z0-9_-]{1,64}(?:[?#]|$)/;

/** Each refusal of a page token: its status and what the page says. */
const REFUSALS: Record<TokenRefusal, { status: number; title: string; message: string }> = {
  unknown: {
    status: 404,
    title: "Unknown request",
    message:
      "This server has no such request (a restart of the server drops pending requests). Ask the agent to call ask_human_secret again.",
  },
  bad_token: { status: 403, title: "Wrong link", message: "This link's token is wrong. Nothing was typed." },
  used: {
    status: 410,
    title: "Link already used",
    message: "This link works once and was used. Nothing was typed now.",
  },
  cancelled: {
    status: 410,
    title: "Request ended",
    message: "The agent's call that asked ended (it was cancelled). Nothing was typed.",
  },
  expired: {
    status: 410,
    title: "Link expired",
    message: "This link expired. Nothing was typed. Ask the agent to call ask_human_secret again.",
  },
};

/**
 * ask_human_secret's page (docs/lab-and-viewer.md): GET /secret/:id?token= shows the form,
 * POST /secret/:id (form fields token, secret, action) types the secret or declines. The token
 * is the page's only credential (the viewer's token is not needed, nor given); it works once.
 * The form posts to our own origin: this page's Content-Security-Policy allows form-action 'self'.
 */
const secret: FastifyPluginAsync<ViewerPluginOptions> = async (app, { ctx }) => {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addHook("onSend", async (_req, reply) => {
    reply.header("content-security-policy", contentSecurityPolicy(false, true));
    reply.header("cache-control", "no-store");
  });

  app.get("/secret/:id", (req, reply) => {
    const mgr = ctx.opts.manager;
    const id = (req.params as { id: string }).id;
    const { token } = req.query as { token?: unknown };
    if (!mgr) return refusal(reply, "unknown");
    const r = mgr.humanSecrets.check(id, token);
    if (typeof r === "string") return refusal(reply, r);
    return reply.type("text/html").send(form(mgr, r, String(token)));
  });

  app.post("/secret/:id", async (req, reply) => {
    const mgr = ctx.opts.manager;
    const id = (req.params as { id: string }).id;
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!mgr) return refusal(reply, "unknown");
    const seen = mgr.humanSecrets.check(id, body.token);
    if (typeof seen === "string") return refusal(reply, seen);
    const value = typeof body.secret === "string" ? body.secret : "";
    if (body.action !== "decline" && !value) {
      const note = "The secret was empty: nothing was typed. Type it, or Decline.";
      return reply
        .code(400)
        .type("text/html")
        .send(form(mgr, seen, String(body.token), note));
    }
    const r = mgr.humanSecrets.claim(id, body.token);
    if (typeof r === "string") return refusal(reply, r);
    if (body.action === "decline") {
      mgr.humanSecrets.settle(r.id, { kind: "declined" });
      return page(reply, 200, "Declined", "Nothing was typed; the agent is told you declined.");
    }
    const outcome = await typeHumanSecret(mgr, mgr.humanSecrets, r, value);
    if (outcome.kind === "typed") {
      return page(reply, 200, "Typed", "The secret was typed at the prompt. This page cannot be used again.");
    }
    const why = outcome.kind === "refused" ? outcome.error.message : outcome.kind;
    return page(reply, 409, "Not typed", why);
  });
};
export default secret;

function page(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  return reply.code(status).type("text/html").send(secretResultPage(title, message));
}

function refusal(reply: FastifyReply, why: TokenRefusal): FastifyReply {
  const r = REFUSALS[why];
  return page(reply, r.status, r.title, r.message);
}

/** The form for a pending request: its session and the prompt on screen now. */
function form(mgr: SessionManager, r: HumanSecretRequest, token: string, note?: string): string {
  const s = mgr.known(r.sessionId);
  const p = s?.profile;
  return secretFormPage({
    requestId: r.id,
    token,
    sessionId: r.sessionId,
    profile: p?.name ?? "",
    target: p ? `${p.username ?? ""}@${p.host}:${p.port}` : "",
    prompt: s ? redactText(s.screen().line) : "",
    reason: r.reason,
    expiresAt: new Date(r.expiresAt).toISOString(),
    note,
  });
}
