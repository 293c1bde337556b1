/**
 * Test support: the built ssh-mcp bin driven over stdio by the MCP SDK client against a
 * private sshd, tmux socket and runtime dir (startHarness, baseProfile, connectClient, BIN).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  ElicitRequestSchema,
  type ClientCapabilities,
  type ElicitRequest,
  type ElicitResult,
} from "@modelcontextprotocol/sdk/types.js";
import { startSshd, type SshdFixture } from "./sshd.js";
import { killTmuxServer, uniqueSocket } from "./tmux.js";

/**
 * A real ssh-mcp server (the built bin, spawned over stdio with the SDK's client) against a
 * private sshd, on its own tmux socket and runtime dir. Everything it starts, it stops.
 */
export const BIN = resolve(import.meta.dirname, "../../dist/cli.js");

export interface Harness {
  sshd: SshdFixture;
  dir: string;
  runtimeDir: string;
  socket: string;
  configPath: string;
  client: Client;
  env: Record<string, string>;
  call(tool: string, args?: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean }>;
  restartClient(extraEnv?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export function baseProfile(sshd: SshdFixture, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    key_filename: sshd.clientKey,
    known_hosts_file: sshd.knownHostsFile,
    allow_agent: false,
    look_for_keys: false,
    keepalive_interval: 5,
    ...extra,
  };
}

/** The last 20 kB the server wrote to stderr, for failure messages. */
export let stderrTail = "";

/**
 * What a test's client declares and does beyond the defaults: its capabilities (e.g.
 * `{elicitation: {url: {}}}`) and its answer to the server's elicitation requests.
 */
export interface ClientOptions {
  clientCapabilities?: ClientCapabilities;
  onElicit?: (req: ElicitRequest) => ElicitResult | Promise<ElicitResult>;
}

export async function connectClient(env: Record<string, string>, co: ClientOptions = {}): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, "serve"],
    env,
    stderr: "pipe",
  });
  const client = new Client(
    { name: "ssh-mcp-test", version: "0.0.0" },
    co.clientCapabilities ? { capabilities: co.clientCapabilities } : undefined,
  );
  const onElicit = co.onElicit;
  if (onElicit) client.setRequestHandler(ElicitRequestSchema, (req) => onElicit(req));
  await client.connect(transport);
  // Drain the server's stderr (its log): a full pipe would block the server.
  transport.stderr?.on("data", (d: Buffer) => {
    stderrTail = (stderrTail + d.toString()).slice(-20_000);
  });
  return client;
}

export async function startHarness(
  opts: {
    profiles?: (sshd: SshdFixture) => Record<string, Record<string, unknown>>;
    env?: Record<string, string>;
  } & ClientOptions = {},
): Promise<Harness> {
  const sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-test-"));
  const socket = uniqueSocket("h");
  const configPath = join(dir, "profiles.json");
  const profiles = opts.profiles?.(sshd) ?? { test: baseProfile(sshd) };
  writeFileSync(configPath, JSON.stringify({ profiles }, null, 2));
  const runtimeDir = join(dir, "runtime");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? dir,
    SSH_MCP_CONFIG: configPath,
    SSH_MCP_RUNTIME_DIR: runtimeDir,
    SSH_MCP_TMUX_SOCKET: socket,
    SSH_MCP_CLIENT_LABEL: "vitest",
    SSH_MCP_DEBUG: "1",
    SSH_MCP_IDLE_MS: "300",
    SSH_MCP_CONNECT_TIMEOUT_MS: "15000",
    SSH_MCP_HEALTH_INTERVAL_MS: "300",
    // The machine user's own ~/.ssh/config is no test's business (tests of it give their own).
    SSH_MCP_SSH_CONFIG: "off",
    ...opts.env,
  };
  const h: Harness = {
    sshd,
    dir,
    runtimeDir,
    socket,
    configPath,
    env,
    client: await connectClient(env, opts),
    async call(tool, args = {}) {
      const res = await h.client.callTool({ name: tool, arguments: args }, undefined, { timeout: 600_000 });
      const sc = res.structuredContent as Record<string, unknown> & { ok: boolean };
      const text = (res.content as { type: string; text: string }[])[0]?.text;
      if (!sc || text === undefined || JSON.stringify(sc) !== text) {
        throw new Error(`tool ${tool}: structuredContent and text content differ or are missing`);
      }
      if (Boolean(res.isError) === sc.ok) throw new Error(`tool ${tool}: isError disagrees with ok`);
      return sc;
    },
    async restartClient(extraEnv = {}) {
      await h.client.close();
      h.client = await connectClient({ ...env, ...extraEnv }, opts);
    },
    async close() {
      await h.client.close().catch(() => undefined);
      await killTmuxServer(socket);
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
  return h;
}

/** What execute_command / get_command return, as the tests read it. */
export interface Cmd {
  ok: boolean;
  command_id: string;
  status: string;
  exit_code: number | null;
  output: string;
  output_truncated: boolean;
  timed_out: boolean;
  completion: string;
  code?: string;
  error?: string;
  shell?: string;
  state?: string;
  input_kind?: string;
  prompt?: string;
}

/**
 * Watches every process's command line while `during` runs and returns the ones that contained
 * `secret` (there must be none: secrets never go on an argv).
 */
export async function cmdlinesContaining(secret: string, during: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  let scanning = true;
  const scan = (async () => {
    while (scanning) {
      for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
          const c = readFileSync(`/proc/${pid}/cmdline`, "utf8");
          if (c.includes(secret)) seen.push(c.replace(/\0/g, " "));
        } catch {
          // the process is gone
        }
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    await during();
  } finally {
    scanning = false;
    await scan;
  }
  return seen;
}
