import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, startHarness, type Harness } from "../support/harness.js";

const TOOLS = [
  "open_session",
  "list_sessions",
  "close_session",
  "send_text",
  "send_keys",
  "execute_command",
  "get_command",
  "list_commands",
  "cancel_command",
  "interrupt",
  "get_screen",
  "get_transcript",
  "search_logs",
  "reopen_session",
  "acquire_input_lock",
  "release_input_lock",
  "input_lock_status",
  "diagnose_profile",
  "list_profiles",
  "ask_human_secret",
  "send_secret",
];

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

describe("the built bin over stdio with the SDK client", () => {
  it("lists every tool with a described JSON schema", async () => {
    const { tools } = await h.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    for (const t of tools) {
      expect(t.description?.length ?? 0).toBeGreaterThan(20);
      expect(t.inputSchema.type).toBe("object");
      for (const [field, schema] of Object.entries(t.inputSchema.properties ?? {})) {
        expect((schema as { description?: string }).description, `${t.name}.${field}`).toBeTruthy();
      }
    }
    const exec = tools.find((t) => t.name === "execute_command");
    expect(exec?.inputSchema.required).toEqual(["session_id", "command"]);
  });

  it("open -> execute -> close round trip", async () => {
    const open = await h.call("open_session", { profile: "test", owner_label: "e2e" });
    expect(open.ok).toBe(true);
    const sid = (open.session as { session_id: string }).session_id;
    expect(open.attach_command).toContain(sid);
    const r = await h.call("execute_command", {
      session_id: sid,
      command: "uname -s; exit_code_test() { return 4; }; exit_code_test",
    });
    expect(r).toMatchObject({ ok: true, status: "completed", exit_code: 4, output: "Linux\n" });
    const closed = await h.call("close_session", { session_id: sid });
    expect((closed.session as { status: string }).status).toBe("closed");
  });
});

describe("process behaviour", () => {
  it("a broken config is reported once on stderr, with no stack trace and nothing on stdout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-e2e-"));
    try {
      const cfg = join(dir, "profiles.json");
      writeFileSync(cfg, JSON.stringify({ profiles: { bad: { host: "x", port: "22", surprise: 1 } } }));
      const child = spawn(process.execPath, [BIN, "serve"], {
        env: { PATH: process.env.PATH, SSH_MCP_CONFIG: cfg, SSH_MCP_RUNTIME_DIR: join(dir, "rt") },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((res) => child.on("exit", res));
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/profile 'bad', field 'port'/);
      expect(stderr).toMatch(/surprise/);
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});
