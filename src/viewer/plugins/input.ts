import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { SshMcpError } from "../../errors.js";
import { humanLock } from "../../session/locks.js";
import type { SessionHost } from "../../session/host.js";
import { typeAsHuman } from "../../session/operations.js";
import {
  fail,
  operatorOnly,
  sessionParam,
  type ViewerContext,
  type ViewerPluginOptions,
} from "../context.js";

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
    const r = operatorRequest(ctx, req, reply, lockBody, "Body must be {action: acquire|release, ttl?}.");
    if (!r) return reply;
    return { ok: true, ...(await humanLock(r.mgr, r.id, r.body.action, r.body.ttl)) };
  });

  // Typing from the page: only while the human holds the input lock; recorded as actor human.
  app.post("/api/sessions/:id/input", async (req, reply) => {
    const r = operatorRequest(ctx, req, reply, inputBody, "Body must be {data: string} (1-16384 chars).");
    if (!r) return reply;
    try {
      return { ok: true, sent: await typeAsHuman(r.mgr, r.id, r.body.data) };
    } catch (err) {
      return refused(reply, err);
    }
  });
};
export default input;

/**
 * What both routes check, in this order: a known session, a live server (a history viewer takes
 * no input: 409 READ_ONLY), the operator's token, and a body of the route's shape (else 400 with
 * `usage`). Undefined when refused, the refusal sent (`void`: the route returns the reply).
 */
function operatorRequest<T>(
  ctx: ViewerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  schema: z.ZodType<T>,
  usage: string,
): { id: string; mgr: SessionHost; body: T } | undefined {
  const id = sessionParam(ctx, req, reply);
  if (!id) return undefined;
  const mgr = ctx.opts.manager;
  if (!mgr) {
    void fail(reply, 409, "READ_ONLY", "This is a history viewer: no input.");
    return undefined;
  }
  if (operatorOnly(ctx, req, reply)) return undefined;
  const body = schema.safeParse(req.body);
  if (!body.success) {
    void fail(reply, 400, "INVALID_ARGUMENT", usage);
    return undefined;
  }
  return { id, mgr, body: body.data };
}

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
