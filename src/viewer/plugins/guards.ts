import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { z } from "zod";
import { SshMcpError } from "../../errors.js";
import { fail, type ViewerContext, type ViewerPluginOptions } from "../context.js";
import { SECRET_PAGE_RE } from "./secret.js";
import { allowedHosts, hostAllowed, originAllowed, SECURITY_HEADERS, tokenMatches } from "../security.js";

/**
 * The guards: the security headers, then the Host, Origin and token checks, on every request
 * (refusals, errors, 404s and hijacked event streams too), and the error handler that keeps
 * internals out of responses. Registered first and without a scope of its own, so its hooks
 * are the root's and run before every route's.
 */
const guards: FastifyPluginAsync<ViewerPluginOptions> = async (app, { ctx }) => {
  // First of all: set on the raw response, which fastify's own headers are merged into.
  app.addHook("onRequest", async (_req, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
  });
  addAccessCheck(app, ctx);
  setErrorHandler(app);
};
// What fastify-plugin would do, without the dependency: no new scope, so the hooks and the error
// handler apply to the whole app (fastify docs, Plugins, "Handle the scope").
(guards as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;
export default guards;

/** Every request: a Host we serve, a same-origin Origin if any, and the instance's token. */
function addAccessCheck(app: FastifyInstance, ctx: ViewerContext): void {
  const { opts } = ctx;
  app.addHook("onRequest", async (req, reply) => {
    const allowed = allowedHosts(opts.host, opts.port());
    if (!hostAllowed(req.headers.host, allowed)) return fail(reply, 421, "BAD_HOST", "Unknown Host header.");
    const oneTime = SECRET_PAGE_RE.test(req.url);
    // A form posted under Referrer-Policy no-referrer says `Origin: null`: on the one-time page
    // its own token (which no other site can know) is the credential.
    const nullOk = oneTime && req.headers.origin === "null";
    if (!nullOk && !originAllowed(req.headers.origin, allowed))
      return fail(reply, 403, "BAD_ORIGIN", "Cross-origin request refused.");
    // ask_human_secret's page checks its one-time token itself (plugins/secret.ts).
    if (oneTime) return;
    const q = req.query as Record<string, unknown> | undefined;
    const given = req.headers["x-ssh-mcp-token"] ?? q?.token;
    const operator = opts.operatorToken !== undefined && tokenMatches(opts.operatorToken, given);
    ctx.operators.set(req, operator);
    if (!operator && !tokenMatches(opts.token, given)) {
      return fail(
        reply,
        401,
        "BAD_TOKEN",
        "Missing or wrong token: open the viewer_url that open_session returned.",
      );
    }
  });
}

function setErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof SshMcpError) return fail(reply, 409, err.code, err.message);
    if (err instanceof z.ZodError) return fail(reply, 400, "INVALID_ARGUMENT", "Invalid query parameters.");
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    // Client errors say what was wrong; server errors say nothing about the inside.
    return fail(
      reply,
      status,
      status === 500 ? "INTERNAL_ERROR" : "BAD_REQUEST",
      status === 500 ? "Internal error." : err.message,
    );
  });
}
