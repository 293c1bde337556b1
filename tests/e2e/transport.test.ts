import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { killTmuxServer, uniqueSocket } from "../support/tmux.js";
import { BIN } from "../support/harness.js";

/**
 * Hostile protocol input, as raw JSON-RPC lines on the built server's stdin: every malformed
 * call gets a coded result, and a message over the transport's limit ends the server cleanly
 * (it used to stop reading and linger, answering nothing, with its sessions held).
 */

let dir: string;
let socket: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-transport-"));
  socket = uniqueSocket("t");
});

afterAll(async () => {
  await killTmuxServer(socket);
  rmSync(dir, { recursive: true, force: true });
});

function startServer(): { p: ChildProcessWithoutNullStreams; replies: Map<number, Record<string, unknown>> } {
  const p = spawn(process.execPath, [BIN, "serve", "--viewer-port", "off"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      SSH_MCP_RUNTIME_DIR: join(dir, "runtime"),
      SSH_MCP_TMUX_SOCKET: socket,
      SSH_MCP_CONFIG: join(dir, "none.json"),
    },
  });
  const replies = new Map<number, Record<string, unknown>>();
  let buf = "";
  p.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
      const msg = JSON.parse(buf.slice(0, nl)) as { id?: number };
      buf = buf.slice(nl + 1);
      if (typeof msg.id === "number") replies.set(msg.id, msg as Record<string, unknown>);
    }
  });
  p.stdin.on("error", () => undefined); // the server may be gone while a large line is written
  const send = (m: unknown) => p.stdin.write(JSON.stringify(m) + "\n");
  send({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "0" } },
  });
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
  return { p, replies };
}

const call = (p: ChildProcessWithoutNullStreams, id: number, name: string, args: unknown) =>
  p.stdin.write(
    JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }) + "\n",
  );

describe("the MCP transport", () => {
  it("answers null or non-object arguments and prototype-named profiles with coded results", async () => {
    const { p, replies } = startServer();
    try {
      call(p, 2, "open_session", null);
      call(p, 3, "open_session", "profile");
      call(p, 4, "open_session", { profile: "__proto__" });
      call(p, 5, "diagnose_profile", { profile: "constructor" });
      call(p, 6, "list_sessions", null);
      await pollUntil(() => replies.size >= 6, { timeoutMs: 20_000 });
      const result = (id: number) =>
        (replies.get(id)?.result as { structuredContent: Record<string, unknown>; isError?: boolean }) ?? {};
      expect(result(2)).toMatchObject({
        isError: true,
        structuredContent: { ok: false, code: "INVALID_ARGUMENT" },
      });
      expect(result(3)).toMatchObject({
        isError: true,
        structuredContent: { ok: false, code: "INVALID_ARGUMENT" },
      });
      expect(result(4)).toMatchObject({
        isError: true,
        structuredContent: { ok: false, code: "UNKNOWN_PROFILE" },
      });
      expect(result(5)).toMatchObject({
        isError: true,
        structuredContent: { ok: false, code: "UNKNOWN_PROFILE" },
      });
      expect(result(6).structuredContent).toMatchObject({ ok: true, sessions: [] });
    } finally {
      p.kill();
    }
  });

  it("a line over the 10 MiB limit ends the server cleanly, and says why in its log", async () => {
    const { p, replies } = startServer();
    const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
    await pollUntil(() => replies.has(1), { timeoutMs: 20_000 });
    p.stdin.write(
      `{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":"${"x".repeat(11 * 1024 * 1024)}"}}\n`,
    );
    expect(await exited).toBe(0);
    const instances = join(dir, "runtime", "instances");
    const logs = readdirSync(instances).map((d) =>
      readFileSync(join(instances, d, "logs", "ssh_mcp.log"), "utf8"),
    );
    expect(logs.join("\n")).toMatch(/MCP transport closed; exiting.*ReadBuffer exceeded maximum size/);
  }, 120_000);
});
