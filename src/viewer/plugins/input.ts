import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import { checkTyped, shellParserReady } from "../../security/policy.js";
import { acquireLock, activeLock, releaseLock } from "../../session/locks.js";
import { inputContext } from "../../session/operations.js";
import type { Session } from "../../session/session.js";
import { fail, operatorOnly, sessionParam, type ViewerPluginOptions } from "../context.js";
import { redactText } from "../redaction.js";

const inputBody = z.object({ data: z.string().min(1).max(16_384) }).strict();
const lockBody = z
  .object({ action: z.enum(["acquire", "release"]), ttl: z.number().gt(0).max(86_400).default(600) })
  .strict();

/** The human's input: the input lock and typing, with the operator's token only (never the agent's). */
const input: FastifyPluginAsync<ViewerPluginOptions> = async (app, { ctx }) => {
  app.post("/api/sessions/:id/lock", async (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const mgr = ctx.opts.manager;
    if (!mgr) return fail(reply, 409, "READ_ONLY", "This is a history viewer: no input.");
    if (operatorOnly(ctx, req, reply)) return reply;
    const body = lockBody.safeParse(req.body);
    if (!body.success)
      return fail(reply, 400, "INVALID_ARGUMENT", "Body must be {action: acquire|release, ttl?}.");
    if (body.data.action === "acquire") {
      return { ok: true, lock: await acquireLock(mgr, id, "human", body.data.ttl, false) };
    }
    return { ok: true, ...(await releaseLock(mgr, id, "human", false)) };
  });

  // Typing from the page: only while the human holds the input lock; recorded as actor human.
  app.post("/api/sessions/:id/input", async (req, reply) => {
    const id = sessionParam(ctx, req, reply);
    if (!id) return reply;
    const mgr = ctx.opts.manager;
    if (!mgr) return fail(reply, 409, "READ_ONLY", "This is a history viewer: no input.");
    if (operatorOnly(ctx, req, reply)) return reply;
    const body = inputBody.safeParse(req.body);
    if (!body.success)
      return fail(reply, 400, "INVALID_ARGUMENT", "Body must be {data: string} (1-16384 chars).");
    const s = await mgr.usable(id, { actor: "human" });
    const info = await mgr.deps.tmux.paneInfo(s.paneId);
    const lock = activeLock(info?.lock);
    if (!lock || lock.actor !== "human") {
      return fail(
        reply,
        409,
        "INPUT_LOCKED",
        "Take the input lock first (POST /lock {action: acquire}); the page is read-only by default.",
      );
    }
    const data = body.data.data;
    if (await policyRefused(s, data, reply)) return reply;
    await s.exclusive(async () => {
      // Recorded as the transcript records output: redacted if the profile redacts.
      const recorded = s.profile.security.redact_transcripts ? redactText(data) : data;
      s.writer.mustWrite("send", { tool: "viewer", text: recorded, actor: "human" });
      s.otherInput("typed", data);
      await mgr.deps.tmux.sendLiteral(s.paneId, data);
    });
    return { ok: true, sent: body.data.data.length };
  });
};
export default input;

/**
 * The same policy as every other input path (docs/security.md), checked as the human types:
 * whether `data` was refused (403 POLICY_BLOCKED sent, the block recorded).
 */
async function policyRefused(s: Session, data: string, reply: FastifyReply): Promise<boolean> {
  if (s.profile.security.mode === "unrestricted") return false;
  await shellParserReady();
  const verdict = checkTyped(s.profile, data, inputContext(s));
  if (verdict.allowed) return false;
  s.writer.write("security_block", {
    tool: "viewer",
    actor: "human",
    rule: verdict.rule,
    mode: s.profile.security.mode,
  });
  void fail(
    reply,
    403,
    "POLICY_BLOCKED",
    `Refused by profile '${s.profile.name}' security policy (${verdict.rule}). Nothing was sent.`,
  );
  return true;
}
