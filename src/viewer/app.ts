import Fastify, { type FastifyInstance } from "fastify";
import type { ViewerContext, ViewerOptions } from "./context.js";
import assets from "./plugins/assets.js";
import guards from "./plugins/guards.js";
import history from "./plugins/history.js";
import input from "./plugins/input.js";
import live from "./plugins/live.js";
import secret from "./plugins/secret.js";

export type { ViewerOptions } from "./context.js";

/**
 * The browser viewer (fastify), one plugin per concern. The guards come first and share the
 * app's scope, so their hooks (security headers, Host/Origin/token) run before every route's;
 * each of the others is a scope of its own. Built by a factory so tests drive it with
 * app.inject(). See ViewerOptions (context.ts) for what a manager adds to a history viewer.
 */
export function buildViewerApp(opts: ViewerOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: 64 * 1024, logger: false });
  app.removeContentTypeParser("text/plain");
  const ctx: ViewerContext = { opts, operators: new WeakMap() };
  app.register(guards, { ctx });
  app.register(assets);
  app.register(history, { ctx });
  app.register(live, { ctx });
  app.register(input, { ctx });
  app.register(secret, { ctx });
  return app;
}
