import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync } from "fastify";
import { fail } from "../context.js";

const require = createRequire(import.meta.url);
/** Static files: xterm.js, and the pages' own script and style (copied next to dist/viewer/). */
const ASSETS: Record<string, { type: string; path: string }> = {
  "xterm.js": { type: "text/javascript", path: require.resolve("@xterm/xterm/lib/xterm.js") },
  "xterm.css": { type: "text/css", path: require.resolve("@xterm/xterm/css/xterm.css") },
  "index.js": {
    type: "text/javascript",
    path: fileURLToPath(new URL("../assets/index.js", import.meta.url)),
  },
  "session.js": {
    type: "text/javascript",
    path: fileURLToPath(new URL("../assets/session.js", import.meta.url)),
  },
  "viewer.css": { type: "text/css", path: fileURLToPath(new URL("../assets/viewer.css", import.meta.url)) },
};
const assetCache = new Map<string, Buffer>();

/** GET /assets/:name: the static files the pages load (no inline script or style anywhere). */
const assets: FastifyPluginAsync = async (app) => {
  app.get("/assets/:name", (req, reply) => {
    const name = (req.params as { name: string }).name;
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return fail(reply, 404, "NOT_FOUND", `No asset '${name}'.`);
    let body = assetCache.get(name);
    if (!body) assetCache.set(name, (body = readFileSync(asset.path)));
    return reply.type(asset.type).send(body);
  });
};
export default assets;
