import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseProfile, connectClient, startHarness, type Harness } from "../support/harness.js";

/**
 * Every tool looks its session up with the access it needs (docs/architecture.md: "Session
 * contract"): closing and reopening respect another actor's input lock as input does, and a
 * command of another live server's session is that server's to cancel.
 */

let h: Harness;

interface Opened {
  session_id: string;
  viewer_url: string;
  server_instance_id: string;
  transcript_path: string;
}

interface Listed {
  session_id: string;
  status: string;
  previous_session_id: string | null;
}

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => ({
      test: baseProfile(sshd),
      ro: baseProfile(sshd, { security: { mode: "readonly" } }),
    }),
  });
});

afterAll(async () => {
  await h?.close();
});

async function open(profile: string): Promise<Opened> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return r.session as Opened;
}

async function sessions(): Promise<Listed[]> {
  return (await h.call("list_sessions")).sessions as Listed[];
}

/** The viewer's API with the operator's token (the human), as `ssh-mcp ls` shows it. */
async function humanLock(session: Opened, action: "acquire" | "release") {
  const u = new URL(session.viewer_url);
  const operator = readFileSync(
    join(h.runtimeDir, "instances", session.server_instance_id, "viewer_operator_token"),
    "utf8",
  ).trim();
  const res = await fetch(`${u.origin}/api/sessions${u.pathname.replace(/^\/sessions/, "")}/lock`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-ssh-mcp-token": operator },
    body: JSON.stringify({ action, ttl: 60 }),
  });
  return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
}

function events(path: string): { dir: string; tool?: string; action?: string; lock_actor?: string }[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { dir: string });
}

describe("closing respects another actor's input lock", () => {
  it("close_session without force refuses while the human holds the lock; force closes (recorded)", async () => {
    const s = await open("test");
    expect(await humanLock(s, "acquire")).toMatchObject({ ok: true, lock: { actor: "human" } });
    const refused = await h.call("close_session", { session_id: s.session_id });
    expect(refused).toMatchObject({ ok: false, code: "INPUT_LOCKED" });
    expect(String(refused.error)).toMatch(/force: true/);
    expect((await sessions()).find((x) => x.session_id === s.session_id)?.status).toBe("open");
    const forced = await h.call("close_session", { session_id: s.session_id, force: true });
    expect(forced).toMatchObject({ ok: true, session: { status: "closed" } });
    expect(
      events(s.transcript_path).some(
        (e) => e.dir === "lock" && e.action === "override" && e.lock_actor === "human",
      ),
    ).toBe(true);
  });

  it("under readonly, forcing close_session past the human's lock is refused and recorded", async () => {
    const s = await open("ro");
    expect(await humanLock(s, "acquire")).toMatchObject({ ok: true });
    const r = await h.call("close_session", { session_id: s.session_id, force: true });
    expect(r).toMatchObject({ ok: false, code: "POLICY_BLOCKED" });
    expect((await sessions()).find((x) => x.session_id === s.session_id)?.status).toBe("open");
    expect(events(s.transcript_path).filter((e) => e.dir === "security_block")).toMatchObject([
      { tool: "close_session" },
    ]);
    expect(await humanLock(s, "release")).toMatchObject({ ok: true, released: true });
    expect(await h.call("close_session", { session_id: s.session_id })).toMatchObject({
      ok: true,
      session: { status: "closed" },
    });
  });
});

describe("reopen_session checks that the old session may be closed before it logs in", () => {
  it("a refusal (INPUT_LOCKED, or POLICY_BLOCKED under readonly with force) leaves no new session", async () => {
    const s = await open("test");
    const ro = await open("ro");
    expect(await humanLock(s, "acquire")).toMatchObject({ ok: true });
    expect(await humanLock(ro, "acquire")).toMatchObject({ ok: true });
    const before = (await sessions()).length;
    expect(await h.call("reopen_session", { session_id: s.session_id })).toMatchObject({
      ok: false,
      code: "INPUT_LOCKED",
    });
    expect(await h.call("reopen_session", { session_id: ro.session_id, force: true })).toMatchObject({
      ok: false,
      code: "POLICY_BLOCKED",
    });
    const after = await sessions();
    expect(after).toHaveLength(before);
    expect(
      after.filter((x) => x.previous_session_id === s.session_id || x.previous_session_id === ro.session_id),
    ).toEqual([]);
    expect(
      after.filter((x) => x.session_id === s.session_id || x.session_id === ro.session_id),
    ).toMatchObject([{ status: "open" }, { status: "open" }]);
    // Once the human lets go, reopen logs in and closes the old one.
    expect(await humanLock(s, "release")).toMatchObject({ ok: true, released: true });
    const r = await h.call("reopen_session", { session_id: s.session_id });
    expect(r).toMatchObject({ ok: true, previous_session_id: s.session_id, session: { status: "open" } });
    expect((await sessions()).find((x) => x.session_id === s.session_id)?.status).toBe("closed");
    await h.call("close_session", { session_id: (r.session as Listed).session_id });
    expect(await humanLock(ro, "release")).toMatchObject({ ok: true });
    await h.call("close_session", { session_id: ro.session_id });
  });
});

describe("cancel_command on another live server's session", () => {
  async function callOn(client: Client, tool: string, args: Record<string, unknown> = {}) {
    const res = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
    return res.structuredContent as Record<string, unknown> & { ok: boolean };
  }

  it("is SESSION_OWNED_ELSEWHERE (with force too): the command is that server's to cancel", async () => {
    const s = await open("test");
    const cmd = await h.call("execute_command", {
      session_id: s.session_id,
      command: "sleep 30",
      timeout: 0.3,
    });
    expect(cmd).toMatchObject({ ok: true, status: "running" });
    const other = await connectClient(h.env);
    try {
      for (const force of [false, true]) {
        expect(
          await callOn(other, "cancel_command", {
            session_id: s.session_id,
            command_id: cmd.command_id,
            force,
          }),
          `force: ${force}`,
        ).toMatchObject({ ok: false, code: "SESSION_OWNED_ELSEWHERE" });
      }
    } finally {
      await other.close();
    }
    // Still running here, and still ours to cancel.
    expect(
      await h.call("get_command", { session_id: s.session_id, command_id: cmd.command_id }),
    ).toMatchObject({ ok: true, command: { status: "running" } });
    expect(
      await h.call("cancel_command", { session_id: s.session_id, command_id: cmd.command_id }),
    ).toMatchObject({ ok: true, command: { status: "cancelled" } });
    await h.call("close_session", { session_id: s.session_id });
  });
});
