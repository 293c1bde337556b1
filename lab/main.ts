#!/usr/bin/env node
/**
 * The lab's own entry point: `node dist/lab/main.js [--host H] [--port N] [--dir DIR]`.
 * Writes DIR/lab.json (pid, host, port) once listening, so ssh-mcp can find and stop it.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ensureKeys } from "./keys.js";
import { startLabServer } from "./server.js";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: process.env.SSH_MCP_LAB_PORT ?? "2222" },
    dir: { type: "string" },
  },
});

const host = values.host;
const port = Number(values.port);
if (!values.dir) {
  // ssh-mcp (ssh-mcp lab, or a session that starts it) always says where the lab lives.
  process.stderr.write("lab: --dir DIR is required (ssh-mcp lab passes it; run that instead)\n");
  process.exit(2);
}
const dir = resolve(values.dir);
const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} lab: ${line}\n`);
};

const keys = ensureKeys(dir, host, port);
const lab = await startLabServer({
  host,
  port,
  dir,
  keys,
  password: process.env.SSH_MCP_LAB_PASSWORD ?? "cmsm-lab",
  log,
});
const info = join(dir, "lab.json");
writeFileSync(
  info,
  JSON.stringify({ pid: process.pid, host, port: lab.port, started_at: new Date().toISOString() }) + "\n",
  {
    mode: 0o600,
  },
);
log(`CMSM bastion lab listening on ${host}:${lab.port} (dir ${dir}); users: ops, ops-cr, ops-ansi`);

const stop = (): void => {
  rmSync(info, { force: true });
  void lab.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
