import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseProfile, startHarness, type Harness } from "../support/harness.js";

/** Command policy per profile and transcript redaction, against a real sshd. */

let h: Harness;

async function open(profile: string): Promise<{ session_id: string; transcript_path: string }> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return r.session as { session_id: string; transcript_path: string };
}

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => ({
      ro: baseProfile(sshd, { security: { mode: "readonly" } }),
      restricted: baseProfile(sshd, { security: { mode: "restricted", allow_patterns: ["^echo [a-z-]+$"] } }),
      deny: baseProfile(sshd, { security: { deny_patterns: ["rm\\s+-rf"] } }),
      plain: baseProfile(sshd, { security: { redact_transcripts: false } }),
      test: baseProfile(sshd),
    }),
  });
});

afterAll(async () => {
  await h?.close();
});

describe("security policy", () => {
  it("readonly: read commands run, writes are refused with the rule and a security_block event", async () => {
    const s = await open("ro");
    expect(
      await h.call("execute_command", { session_id: s.session_id, command: "ls / | wc -l" }),
    ).toMatchObject({ ok: true, exit_code: 0 });
    for (const bad of [
      "touch /tmp/ssh-mcp-ro-test",
      "find /tmp -name x -delete",
      "echo x > /tmp/f",
      "ls $(touch /tmp/y)",
    ]) {
      const r = await h.call("execute_command", { session_id: s.session_id, command: bad });
      expect(r, bad).toMatchObject({ ok: false, code: "POLICY_BLOCKED" });
      expect(String(r.error)).toMatch(/readonly/);
    }
    // At a shell prompt send_text is checked like a command; typing without Enter is refused
    // (a command could be assembled piece by piece); a read-only line passes.
    expect(await h.call("send_text", { session_id: s.session_id, text: "reboot" })).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    expect(await h.call("send_text", { session_id: s.session_id, text: "r", enter: false })).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    expect((await h.call("send_text", { session_id: s.session_id, text: "ls /", timeout: 0.5 })).ok).toBe(
      true,
    );
    const events = readFileSync(s.transcript_path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { dir: string; rule?: string });
    expect(events.filter((e) => e.dir === "security_block").length).toBe(6);
    expect(events.find((e) => e.dir === "security_block")?.rule).toMatch(/touch/);
  });

  it("restricted: only allow_patterns; deny_patterns: always", async () => {
    const r = await open("restricted");
    expect(
      await h.call("execute_command", { session_id: r.session_id, command: "echo allowed" }),
    ).toMatchObject({ output: "allowed\n" });
    expect(await h.call("execute_command", { session_id: r.session_id, command: "id" })).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    const d = await open("deny");
    expect(
      await h.call("execute_command", { session_id: d.session_id, command: "rm -rf /tmp/nothing-here" }),
    ).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    expect(await h.call("execute_command", { session_id: d.session_id, command: "echo fine" })).toMatchObject(
      { output: "fine\n" },
    );
  });
});

describe("one policy for every input path (readonly)", () => {
  /** The viewer's API with the operator's token (the human), as `ssh-mcp ls` shows it. */
  async function viewer(
    session: { viewer_url: string; server_instance_id: string },
    path: "lock" | "input",
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown> & { status: number }> {
    const u = new URL(session.viewer_url);
    const operator = readFileSync(
      join(h.runtimeDir, "instances", session.server_instance_id, "viewer_operator_token"),
      "utf8",
    ).trim();
    const res = await fetch(`${u.origin}/api/sessions${u.pathname.replace(/^\/sessions/, "")}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-ssh-mcp-token": operator },
      body: JSON.stringify(body),
    });
    return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
  }

  it("the human's lock cannot be forced, and the human's typing is checked too", async () => {
    const s = (await h.call("open_session", { profile: "ro" })).session as {
      session_id: string;
      viewer_url: string;
      server_instance_id: string;
      transcript_path: string;
    };
    const sid = s.session_id;
    expect(await viewer(s, "lock", { action: "acquire", ttl: 60 })).toMatchObject({ ok: true });
    // force over a human's lock is refused under readonly (and recorded), for locks and input.
    for (const [tool, args] of [
      ["release_input_lock", { force: true }],
      ["acquire_input_lock", { force: true }],
      ["execute_command", { command: "ls", force: true }],
    ] as const) {
      expect(await h.call(tool, { session_id: sid, ...args }), tool).toMatchObject({
        ok: false,
        code: "POLICY_BLOCKED",
      });
    }
    // The human types whole lines under readonly; each is checked like send_text.
    expect(await viewer(s, "input", { data: "touch /tmp/ro-viewer-typed\r" })).toMatchObject({
      status: 403,
      code: "POLICY_BLOCKED",
    });
    expect(await viewer(s, "input", { data: "t" })).toMatchObject({ status: 403, code: "POLICY_BLOCKED" });
    expect(await viewer(s, "input", { data: "echo viewer-ok\r" })).toMatchObject({ ok: true });
    expect(await viewer(s, "lock", { action: "release" })).toMatchObject({ ok: true });
    const blocks = readFileSync(s.transcript_path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { dir: string; actor?: string; tool?: string })
      .filter((e) => e.dir === "security_block");
    expect(blocks.filter((b) => b.actor === "human").length).toBe(2);
    expect(blocks.filter((b) => /input_lock|input/.test(b.tool ?? "")).length).toBe(3);
  });

  it("send_keys is checked against the screen; a secret is not typed behind a running command", async () => {
    const s = await open("ro");
    const sid = s.session_id;
    const keys = (text: string): string[] => [...text].map((c) => (c === " " ? "Space" : c)).concat("Enter");
    expect(await h.call("send_keys", { session_id: sid, keys: keys("touch /tmp/ro-keys") })).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    expect(await h.call("send_keys", { session_id: sid, keys: ["Up", "Enter"] })).toMatchObject({
      code: "POLICY_BLOCKED",
    });
    expect((await h.call("send_keys", { session_id: sid, keys: keys("echo keys-ok") })).ok).toBe(true);
    // A fake password prompt from a command that then eats one character: the rest of a
    // "secret" would reach the shell as a command line.
    await h.call("send_text", {
      session_id: sid,
      text: "printf 'Password: '; head -c1 >/dev/null",
      wait_for: "Password: ",
      timeout: 5,
    });
    const typeahead = await h.call("send_text", {
      session_id: sid,
      text: "xtouch /tmp/ro-typeahead",
      sensitive: true,
    });
    expect(typeahead).toMatchObject({ code: "POLICY_BLOCKED" });
    expect(String(typeahead.error)).toMatch(/while a command line runs/);
    await h.call("send_keys", { session_id: sid, keys: ["C-c"] });
  });
});

describe("transcript redaction", () => {
  it("masks secrets in received text by default, in the transcript and in results", async () => {
    const s = await open("test");
    const r = await h.call("execute_command", {
      session_id: s.session_id,
      // Built from pieces so the echo of the typed line does not itself carry the secrets.
      command: "printf '%s%s\\n' 'db pass''word=hun' 'ter2 ok' 'Authorization: Bearer abcde' 'fghijk.lmnop'",
    });
    expect(r.output).toBe("db password=[REDACTED] ok\nAuthorization: Bearer [REDACTED]\n");
    const recv = readFileSync(s.transcript_path, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { dir: string; text?: string })
      .filter((e) => e.dir === "recv")
      .map((e) => e.text)
      .join("");
    expect(recv).not.toContain("hunter2");
    expect(recv).not.toContain("abcdefghijk");
    expect(recv).toContain("password=[REDACTED]");
  });

  it("redact_transcripts: false keeps the text as received", async () => {
    const s = await open("plain");
    const r = await h.call("execute_command", {
      session_id: s.session_id,
      command: "echo token=visible-on-purpose",
    });
    expect(r.output).toBe("token=visible-on-purpose\n");
  });
});
