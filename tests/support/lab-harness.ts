/**
 * Test support: the built bin with no profiles file, so it starts the built-in lab on
 * demand (startLabHarness), and freePort for tests that pick a lab port themselves.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { killTmuxServer, uniqueSocket } from "./tmux.js";
import { connectClient } from "./harness.js";
import { freePort } from "./sshd.js";

/**
 * The built bin over stdio with NO profiles file: the embedded default, the built-in lab,
 * started on demand by the server itself on a free port. Stops the lab by the pid it recorded.
 */
export interface LabHarness {
  dir: string;
  runtimeDir: string;
  socket: string;
  port: number;
  password: string;
  env: Record<string, string>;
  client: Client;
  call(tool: string, args?: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean }>;
  close(): Promise<void>;
}

export { freePort };

export async function startLabHarness(extraEnv: Record<string, string> = {}): Promise<LabHarness> {
  const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-lab-"));
  const runtimeDir = join(dir, "runtime");
  const socket = uniqueSocket("lab");
  const port = await freePort();
  const password = "lab-pw-" + Math.random().toString(36).slice(2, 10);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? dir,
    SSH_MCP_CONFIG: join(dir, "no-such-profiles.json"),
    SSH_MCP_RUNTIME_DIR: runtimeDir,
    SSH_MCP_TMUX_SOCKET: socket,
    SSH_MCP_LAB_PORT: String(port),
    SSH_MCP_LAB_PASSWORD: password,
    SSH_MCP_IDLE_MS: "400",
    SSH_MCP_HEALTH_INTERVAL_MS: "300",
    ...extraEnv,
  };
  const h: LabHarness = {
    dir,
    runtimeDir,
    socket,
    port,
    password,
    env,
    client: await connectClient(env),
    async call(tool, args = {}) {
      const res = await h.client.callTool({ name: tool, arguments: args }, undefined, { timeout: 600_000 });
      return res.structuredContent as Record<string, unknown> & { ok: boolean };
    },
    async close() {
      await h.client.close().catch(() => undefined);
      await killTmuxServer(socket);
      const info = join(runtimeDir, "lab", "lab.json");
      if (existsSync(info)) {
        const { pid } = JSON.parse(readFileSync(info, "utf8")) as { pid: number };
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
  return h;
}
