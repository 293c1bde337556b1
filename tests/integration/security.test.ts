import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseProfile, startHarness, type Harness } from "../helpers/harness.js";

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
