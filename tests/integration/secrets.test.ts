import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ElicitRequest, ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  baseProfile,
  cmdlinesContaining,
  connectClient,
  startHarness,
  stderrTail,
  type Cmd,
  type Harness,
} from "../support/harness.js";
import { readStream } from "../support/browser.js";
import { pollUntil } from "../support/poll.js";

/** Values no test output could hold by chance. */
const SUDO = `Sudo-${randomBytes(6).toString("hex")}`;
const PW = `Pw-${randomBytes(6).toString("hex")}`;

let h: Harness;
let sid: string;
let transcript: string;
let viewerUrl: string;
/** How the test client answers the next approval (null: it was not asked). */
let answer: (p: ElicitRequest["params"]) => ElicitResult | Promise<ElicitResult>;
const asked: string[] = [];

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => ({
      test: baseProfile(sshd, {
        secrets: {
          sudo: { env: "TEST_SUDO_PASSWORD", prompt: "^\\[sudo\\] password for" },
          pw: { env: "TEST_PW" },
          unset: { env: "TEST_NOT_SET_PASSWORD" },
        },
        confirm_patterns: ["rm -rf", "touch .*approval-marker"],
      }),
      later: baseProfile(sshd),
      plain: baseProfile(sshd, {
        secrets: { pw: { env: "TEST_PW" } },
        security: { redact_transcripts: false },
      }),
    }),
    env: { TEST_SUDO_PASSWORD: SUDO, TEST_PW: PW, SSH_MCP_APPROVAL_TIMEOUT_MS: "1500" },
    clientCapabilities: { elicitation: { form: {} } },
    onElicit: ({ params: p }) => {
      asked.push(p.message);
      return answer(p);
    },
  });
  const open = await h.call("open_session", { profile: "test" });
  const session = open.session as { session_id: string; transcript_path: string; viewer_url: string };
  sid = session.session_id;
  transcript = session.transcript_path;
  viewerUrl = session.viewer_url;
});

afterAll(async () => {
  await h?.close();
});

/** The transcript's events of one kind (`dir`). */
function events(path: string, dir: string): Array<Record<string, unknown>> {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.dir === dir);
}

/** Every file under a directory whose content holds `text`. */
function filesContaining(dir: string, text: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (statSync(p).isFile() && readFileSync(p, "utf8").includes(text)) hits.push(p);
  }
  return hits;
}

/** The viewer's live screen of a session, with the read token the agent was given. */
function liveUrl(id: string): string {
  const u = new URL(viewerUrl);
  return `${u.origin}/api/sessions/${id}/live?token=${u.searchParams.get("token") ?? ""}`;
}

/** Starts a command that waits at a password prompt; returns once it waits there. */
async function waitAtPrompt(command: string): Promise<void> {
  const r = (await h.call("execute_command", { session_id: sid, command, timeout: 10 })) as unknown as Cmd;
  expect(r).toMatchObject({ ok: true, status: "running", state: "awaiting_input", input_kind: "password" });
}

describe("send_secret", () => {
  it("is refused at a shell prompt (NO_PASSWORD_PROMPT) and types nothing", async () => {
    const r = await h.call("send_secret", { session_id: sid, name: "sudo" });
    expect(r).toMatchObject({ ok: false, code: "NO_PASSWORD_PROMPT" });
    expect(events(transcript, "send").filter((e) => e.tool === "send_secret")).toEqual([]);
  });

  it("names the declared secrets for an unknown name (UNKNOWN_SECRET)", async () => {
    const r = await h.call("send_secret", { session_id: sid, name: "nope" });
    expect(r).toMatchObject({ ok: false, code: "UNKNOWN_SECRET" });
    expect(r.error).toContain("sudo, pw, unset");
  });

  it("names the unset variable (SECRET_MISSING)", async () => {
    const r = await h.call("send_secret", { session_id: sid, name: "unset" });
    expect(r).toMatchObject({ ok: false, code: "SECRET_MISSING" });
    expect(r.error).toContain("TEST_NOT_SET_PASSWORD");
  });

  it("types the secret at a sudo-like prompt; the value appears nowhere", async () => {
    await waitAtPrompt("read -s -p '[sudo] password for x: ' p; echo got=${#p}");
    let r: Record<string, unknown> = {};
    const argv = await cmdlinesContaining(SUDO, async () => {
      r = await h.call("send_secret", { session_id: sid, name: "sudo" });
    });
    expect(r).toMatchObject({ ok: true, sent: true, secret: "sudo" });
    expect(r.screen_after).toContain(`got=${SUDO.length}`);
    expect(argv).toEqual([]);
    expect(JSON.stringify(r)).not.toContain(SUDO);
    const sends = events(transcript, "send").filter((e) => e.tool === "send_secret");
    expect(sends).toMatchObject([{ text: "[SECRET:sudo]", actor: "agent", sensitive: true }]);
    expect(filesContaining(h.dir, SUDO)).toEqual([]);
    expect(stderrTail).not.toContain(SUDO);
  });

  it("checks the secret's own prompt: 'Password:' is not sudo's (NO_PASSWORD_PROMPT)", async () => {
    // The value echoed on a line of its own (after `Password: ` it would be redacted as a key's).
    await waitAtPrompt("read -s -p 'Password: ' p; echo; echo \"<$p>\"");
    const r = await h.call("send_secret", { session_id: sid, name: "sudo" });
    expect(r).toMatchObject({ ok: false, code: "NO_PASSWORD_PROMPT" });
    expect(r.error).toContain("does not match this secret's prompt");
  });

  it("masks a value the remote echoes: in the result, the screen and the transcript", async () => {
    // Still at the 'Password: ' prompt of the test before.
    const r = await h.call("send_secret", { session_id: sid, name: "pw" });
    expect(r).toMatchObject({ ok: true, sent: true, secret: "pw" });
    expect(r.screen_after).toContain("<[SECRET:pw]>");
    expect(JSON.stringify(r)).not.toContain(PW);
    const screen = await h.call("get_screen", { session_id: sid });
    expect(screen.screen).toContain("[SECRET:pw]");
    expect(JSON.stringify(screen)).not.toContain(PW);
    await pollUntil(() => readFileSync(transcript, "utf8").includes("<[SECRET:pw]>"), {
      message: "the echoed value masked in the transcript",
    });
    expect(filesContaining(h.dir, PW)).toEqual([]);
    const tx = await h.call("get_transcript", { session_id: sid, tail: 200 });
    expect(JSON.stringify(tx)).not.toContain(PW);
    const live = await readStream(liveUrl(sid), (t) => t.includes("event: frame"));
    expect(live).toContain("<[SECRET:pw]>");
    expect(live).not.toContain(PW);
    // The screen and transcript resources, and progress messages, are masked the same way.
    const res = await h.client.readResource({ uri: `ssh-mcp://sessions/${sid}/screen` });
    const resText = JSON.stringify(res);
    expect(resText).toContain("[SECRET:pw]");
    expect(resText).not.toContain(PW);
    const page = await h.client.readResource({ uri: `ssh-mcp://sessions/${sid}/transcript?limit=5000` });
    expect(JSON.stringify(page)).not.toContain(PW);
    const messages: string[] = [];
    await h.client.callTool(
      {
        name: "execute_command",
        arguments: { session_id: sid, command: "sleep 0.6; printf '%s\\n' \"$p\"; sleep 0.6" },
      },
      undefined,
      { onprogress: (p) => messages.push(p.message ?? ""), timeout: 30_000 },
    );
    expect(
      messages.some((m) => m.includes("[SECRET:pw]")),
      JSON.stringify(messages),
    ).toBe(true);
    expect(messages.join("\n")).not.toContain(PW);
    expect(stderrTail).not.toContain(PW);
  });

  it("masks in the transcript of a profile that does not redact too", async () => {
    const open = await h.call("open_session", { profile: "plain" });
    const session = open.session as { session_id: string; transcript_path: string };
    const r = (await h.call("execute_command", {
      session_id: session.session_id,
      command: "read -s -p 'Password: ' p; echo; echo \"<$p>\"",
      timeout: 10,
    })) as unknown as Cmd;
    expect(r).toMatchObject({ ok: true, state: "awaiting_input", input_kind: "password" });
    const sent = await h.call("send_secret", { session_id: session.session_id, name: "pw" });
    expect(sent).toMatchObject({ ok: true, sent: true });
    expect(sent.screen_after).toContain("[SECRET:pw]");
    expect(JSON.stringify(sent)).not.toContain(PW);
    await pollUntil(() => readFileSync(session.transcript_path, "utf8").includes("[SECRET:pw]"), {
      message: "the echoed value masked in the transcript",
    });
    expect(readFileSync(session.transcript_path, "utf8")).not.toContain(PW);
    // The viewer: the transcript view, and the live screen (captured frames, masked).
    const u = new URL((open.session as { viewer_url: string }).viewer_url);
    const token = u.searchParams.get("token") ?? "";
    const api = `${u.origin}/api/sessions/${session.session_id}`;
    const history = await (await fetch(`${api}/events?after_line=0&token=${token}`)).text();
    const live = await readStream(liveUrl(session.session_id), (t) => t.includes("event: frame"));
    for (const text of [history, live]) {
      expect(text).toContain("<[SECRET:pw]>");
      expect(text).not.toContain(PW);
    }
    await h.call("close_session", { session_id: session.session_id });
  });

  it("list_sessions and diagnose_profile show names and whether set, never values", async () => {
    const list = await h.call("list_sessions");
    const mine = (list.sessions as Array<Record<string, unknown>>).find((s) => s.session_id === sid);
    expect(mine?.secrets).toEqual([
      { name: "sudo", env: "TEST_SUDO_PASSWORD", set: true },
      { name: "pw", env: "TEST_PW", set: true },
      { name: "unset", env: "TEST_NOT_SET_PASSWORD", set: false },
    ]);
    const diag = await h.call("diagnose_profile", { profile: "test" });
    expect((diag.diagnosis as Record<string, unknown>).secrets).toEqual(mine?.secrets);
    for (const r of [list, diag]) {
      expect(JSON.stringify(r)).not.toContain(SUDO);
      expect(JSON.stringify(r)).not.toContain(PW);
    }
  });

  it("the masks file holds no value and only its owner may read it", () => {
    const masks = `${transcript}.masks`;
    expect(statSync(masks).mode & 0o777).toBe(0o600);
    const text = readFileSync(masks, "utf8");
    expect(text).not.toContain(SUDO);
    expect(text).not.toContain(PW);
    expect(JSON.parse(text)).toMatchObject({ masks: [{ name: "sudo", len: SUDO.length }, { name: "pw" }] });
  });
});

describe("approvals (confirm_patterns)", () => {
  it("runs an approved command, asking with the session, profile and command", async () => {
    const marker = join(h.dir, "approved-approval-marker");
    answer = () => ({ action: "accept", content: { approve: true } });
    asked.length = 0;
    const r = (await h.call("execute_command", {
      session_id: sid,
      command: `touch ${marker}`,
      timeout: 10,
    })) as unknown as Cmd;
    expect(r).toMatchObject({ ok: true, exit_code: 0 });
    expect(existsSync(marker)).toBe(true);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain(`execute_command on session ${sid} (test, `);
    expect(asked[0]).toContain(`touch ${marker}`);
    expect(events(transcript, "approval").pop()).toMatchObject({
      tool: "execute_command",
      pattern: "touch .*approval-marker",
      command: `touch ${marker}`,
      decision: "approved",
      by: "human",
    });
  });

  it("declined: APPROVAL_DECLINED and nothing runs (approve false, decline, cancel)", async () => {
    for (const a of [
      { action: "accept", content: { approve: false } },
      { action: "decline" },
      { action: "cancel" },
    ] as ElicitResult[]) {
      const marker = join(h.dir, `declined-approval-marker-${a.action}`);
      answer = () => a;
      const r = await h.call("execute_command", { session_id: sid, command: `touch ${marker}`, timeout: 10 });
      expect(r).toMatchObject({ ok: false, code: "APPROVAL_DECLINED" });
      expect(existsSync(marker)).toBe(false);
      expect(events(transcript, "approval").pop()).toMatchObject({ decision: "declined", by: "human" });
      expect(events(transcript, "command_start").map((e) => e.command)).not.toContain(`touch ${marker}`);
    }
  });

  it("no answer within SSH_MCP_APPROVAL_TIMEOUT_MS: APPROVAL_UNAVAILABLE and nothing runs", async () => {
    const marker = join(h.dir, "timeout-approval-marker");
    answer = () => new Promise<ElicitResult>(() => undefined);
    const r = await h.call("execute_command", { session_id: sid, command: `touch ${marker}`, timeout: 10 });
    expect(r).toMatchObject({ ok: false, code: "APPROVAL_UNAVAILABLE" });
    expect(events(transcript, "approval").pop()).toMatchObject({ decision: "unavailable", by: "human" });
    expect(existsSync(marker)).toBe(false);
  });

  it("applies to send_text at a shell prompt", async () => {
    const marker = join(h.dir, "send-text-approval-marker");
    answer = () => ({ action: "decline" });
    const r = await h.call("send_text", { session_id: sid, text: `touch ${marker}`, timeout: 2 });
    expect(r).toMatchObject({ ok: false, code: "APPROVAL_DECLINED" });
    expect(events(transcript, "approval").pop()).toMatchObject({ tool: "send_text", decision: "declined" });
    expect(existsSync(marker)).toBe(false);
  });

  it("applies to send_keys' Enter under a line typed at a shell prompt", async () => {
    const marker = join(h.dir, "keys-approval-marker");
    answer = () => ({ action: "accept", content: { approve: true } });
    // Typed without Enter (approved: it is a command line at a shell prompt), then run by Enter.
    const typed = await h.call("send_text", {
      session_id: sid,
      text: `touch ${marker}`,
      enter: false,
      timeout: 5,
    });
    expect(typed).toMatchObject({ ok: true });
    answer = () => ({ action: "decline" });
    const r = await h.call("send_keys", { session_id: sid, keys: ["Enter"] });
    expect(r).toMatchObject({ ok: false, code: "APPROVAL_DECLINED" });
    expect(events(transcript, "approval").pop()).toMatchObject({ tool: "send_keys", decision: "declined" });
    expect(existsSync(marker)).toBe(false);
    // Clear the line (no Enter: not asked), and the shell takes commands again.
    expect(await h.call("send_keys", { session_id: sid, keys: ["C-u"] })).toMatchObject({ ok: true });
    const after = await h.call("execute_command", { session_id: sid, command: "echo cleared", timeout: 10 });
    expect(after).toMatchObject({ ok: true, output: "cleared\n" });
    expect(existsSync(marker)).toBe(false);
  });

  it("asks about a line typed in pieces, when the piece that ends it is sent", async () => {
    const marker = join(h.dir, "pieces-approval-marker");
    asked.length = 0;
    answer = () => ({ action: "decline" });
    const first = await h.call("send_text", { session_id: sid, text: "touch ", enter: false, timeout: 2 });
    expect(first).toMatchObject({ ok: true });
    expect(asked).toHaveLength(0); // nothing ran yet
    const r = await h.call("send_text", { session_id: sid, text: marker, timeout: 2 });
    expect(r).toMatchObject({ ok: false, code: "APPROVAL_DECLINED" });
    expect(asked[0]).toContain(`touch ${marker}`);
    expect(existsSync(marker)).toBe(false);
    expect(await h.call("send_keys", { session_id: sid, keys: ["C-u"] })).toMatchObject({ ok: true });
  });

  it("asks about the characters send_keys types before its own Enter; refuses Up/Tab with Enter", async () => {
    const marker = join(h.dir, "k-approval-marker");
    answer = () => ({ action: "decline" });
    const keys = [...`touch ${marker}`].map((c) => (c === " " ? "Space" : c));
    const r = await h.call("send_keys", { session_id: sid, keys: [...keys, "Enter"] });
    expect(r).toMatchObject({ ok: false, code: "APPROVAL_DECLINED" });
    expect(existsSync(marker)).toBe(false);
    const hidden = await h.call("send_keys", { session_id: sid, keys: ["Up", "Enter"] });
    expect(hidden).toMatchObject({ ok: false, code: "POLICY_BLOCKED" });
    expect(hidden.error).toContain("send 'Up' first, then Enter alone");
    const after = await h.call("execute_command", { session_id: sid, command: "echo clean", timeout: 10 });
    expect(after).toMatchObject({ ok: true, output: "clean\n" });
  });

  it("types sensitive text only at a password prompt (it is never shown to the human)", async () => {
    const marker = join(h.dir, "sensitive-approval-marker");
    asked.length = 0;
    const r = await h.call("send_text", {
      session_id: sid,
      text: `touch ${marker}`,
      sensitive: true,
      timeout: 2,
    });
    expect(r).toMatchObject({ ok: false, code: "NO_PASSWORD_PROMPT" });
    expect(asked).toHaveLength(0);
    const after = await h.call("execute_command", { session_id: sid, command: "echo clean", timeout: 10 });
    expect(after).toMatchObject({ ok: true, output: "clean\n" });
    expect(existsSync(marker)).toBe(false);
  });

  it("does not ask for a command that matches no pattern", async () => {
    asked.length = 0;
    const r = (await h.call("execute_command", {
      session_id: sid,
      command: "echo unremarkable",
      timeout: 10,
    })) as unknown as Cmd;
    expect(r).toMatchObject({ ok: true, output: "unremarkable\n", exit_code: 0 });
    expect(asked).toEqual([]);
  });

  it("a client without form elicitation: APPROVAL_UNAVAILABLE and nothing runs", async () => {
    const client = await connectClient(h.env);
    try {
      const call = async (name: string, args: Record<string, unknown>) =>
        (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }))
          .structuredContent as Record<string, unknown>;
      const open = await call("open_session", { profile: "test" });
      const session = open.session as { session_id: string; transcript_path: string };
      const marker = join(h.dir, "unavailable-approval-marker");
      const r = await call("execute_command", {
        session_id: session.session_id,
        command: `touch ${marker}`,
        timeout: 10,
      });
      expect(r).toMatchObject({ ok: false, code: "APPROVAL_UNAVAILABLE" });
      expect(existsSync(marker)).toBe(false);
      expect(events(session.transcript_path, "approval")).toMatchObject([
        { decision: "unavailable", by: "human", tool: "execute_command" },
      ]);
      await call("close_session", { session_id: session.session_id });
    } finally {
      await client.close();
    }
  });
});

describe("a profile that declares secrets after its session started", () => {
  it("the next server replaces the recorder, which then masks", async () => {
    const open = await h.call("open_session", { profile: "later" });
    const session = open.session as { session_id: string; transcript_path: string };
    expect(existsSync(`${session.transcript_path}.masks`)).toBe(false);
    const config = JSON.parse(readFileSync(h.configPath, "utf8")) as {
      profiles: Record<string, Record<string, unknown>>;
    };
    (config.profiles.later as Record<string, unknown>).secrets = { pw: { env: "TEST_PW" } };
    writeFileSync(h.configPath, JSON.stringify(config));
    await h.restartClient();
    await h.call("list_sessions");
    await pollUntil(
      () =>
        events(session.transcript_path, "event").some(
          (e) => e.event === "recorder_lost" && String(e.reason).includes("does not mask"),
        ) && events(session.transcript_path, "gap").length > 0,
      { message: "the recorder replaced" },
    );
    const r = (await h.call("execute_command", {
      session_id: session.session_id,
      command: "read -s -p 'Password: ' p; echo; echo \"<$p>\"",
      timeout: 10,
    })) as unknown as Cmd;
    expect(r).toMatchObject({ ok: true, state: "awaiting_input", input_kind: "password" });
    expect(await h.call("send_secret", { session_id: session.session_id, name: "pw" })).toMatchObject({
      ok: true,
    });
    await pollUntil(() => readFileSync(session.transcript_path, "utf8").includes("<[SECRET:pw]>"), {
      message: "the echoed value masked in the transcript",
    });
    expect(readFileSync(session.transcript_path, "utf8")).not.toContain(PW);
  });
});
