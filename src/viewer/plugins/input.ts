import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { z } from "zod";
import { SshMcpError } from "../../errors.js";
import { humanLock } from "../../session/locks.js";
import { typeAsHuman } from "../../session/operations.js";
import { fail, operatorOnly, sessionParam, type ViewerPluginOptions } from "../context.js";

const inputBody = z.object({ data: z.string().min(1).max(16_384) }).strict();
const lockBody = z
  .object({ action: z.enum(["acquire", "release"]), ttl: z.number().gt(0).max(86_400).default(600) })
  .strict();

/**
 * The human's input: the input lock and typing, with the operator's token only (never the
 * agent's). Both go through the session layer as every input does (locks.ts's humanLock,
 * operations.ts's typeAsHuman); this plugin only maps their refusals to HTTP.
 */
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
    return { ok: true, ...(await humanLock(mgr, id, body.data.action, body.data.ttl)) };
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
    try {
      return { ok: true, sent: await typeAsHuman(mgr, id, body.data.data) };
    } catch (err) {
      return refused(reply, err);
    }
  });
};
export default input;

/**
 * A refusal of the human's typing: the policy's is 403 POLICY_BLOCKED; the rest (INPUT_LOCKED,
 * SESSION_CLOSED, ...) go to the app's error handler (409 with their code).
 */
function refused(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof SshMcpError && err.code === "POLICY_BLOCKED") {
    return fail(reply, 403, err.code, err.message);
  }
  throw err;
}
