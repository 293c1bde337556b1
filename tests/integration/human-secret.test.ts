import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElicitationCompleteNotificationSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import type { Browser } from "playwright-core";
import { launchBrowser } from "../support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cmdlinesContaining, startHarness, stderrTail, type Cmd, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";

/**
 * ask_human_secret against a real server, sshd and headless Chromium: the human types a secret
 * into the one-time page and a fake sudo on the remote checks it. The remote is this machine,
 * so the expected value is put in a file there (never typed through the session).
 */

const SECRET = `Hs-${randomBytes(9).toString("base64url")}`;
let browser: Browser;
let remote: string;
/** The fake sudo: hidden read, then compared with the file (no argv carries the value). */
let sudo: string;

beforeAll(async () => {
  remote = mkdtempSync(join(tmpdir(), "ssh-mcp-human-"));
  writeFileSync(join(remote, "expected"), SECRET);
  sudo = `read -s -p '[sudo] password for root: ' p; echo; [ "$p" = "$(cat ${remote}/expected)" ] && echo sudo-ok || echo sudo-bad`;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  rmSync(remote, { recursive: true, force: true });
});

/** Every regular file under dir, as text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((p) => join(dir, p))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile())
    .map((path) => ({ path, text: readFileSync(path, "latin1") }));
}

async function openSession(h: Harness): Promise<string> {
  const open = await h.call("open_session", { profile: "test" });
  return (open.session as { session_id: string }).session_id;
}

/** Runs the fake sudo; it waits at its password prompt. */
async function startSudo(h: Harness, sid: string): Promise<string> {
  const r = (await h.call("execute_command", {
    session_id: sid,
    command: sudo,
    timeout: 30,
  })) as unknown as Cmd;
  expect(r).toMatchObject({ state: "awaiting_input", input_kind: "password" });
  return r.command_id;
}

async function command(h: Harness, sid: string, id: string): Promise<Cmd> {
  const r = await h.call("get_command", { session_id: sid, command_id: id });
  return r.command as Cmd;
}

async function finished(h: Harness, sid: string, id: string): Promise<Cmd> {
  return pollUntil(
    async () => {
      const c = await command(h, sid, id);
      return c.status !== "running" && c;
    },
    { timeoutMs: 15_000, message: "command did not finish" },
  );
}

/** The human in the browser: opens the page, types `value` and presses `button`; the page's answer. */
async function human(url: string, value: string, button: "submit" | "decline" = "submit") {
  const page = await browser.newPage();
  try {
    const shown = await page.goto(url);
    expect(shown?.status()).toBe(200);
    expect(shown?.headers()["referrer-policy"]).toBe("no-referrer");
    expect(shown?.headers()["cache-control"]).toBe("no-store");
    expect(shown?.headers()["content-security-policy"]).toContain("form-action 'self'");
    const form = {
      session: await page.textContent("#session"),
      prompt: await page.textContent("#prompt"),
      reason: await page.textContent("#reason"),
    };
    await page.fill("#secret", value);
    const [posted] = await Promise.all([page.waitForNavigation(), page.click(`#${button}`)]);
    return {
      form,
      status: posted?.status(),
      title: await page.textContent("#title"),
      html: await page.content(),
    };
  } finally {
    await page.close();
  }
}

describe("with URL elicitation", () => {
  let h: Harness;
  let sid: string;
  /** The URL elicitations the client was sent (a form one would have no url). */
  const asked: { mode?: string; url?: string }[] = [];
  let reply: ElicitResult["action"] = "accept";
  /** notifications/elicitation/complete received, by elicitationId. */
  const completed: string[] = [];

  beforeAll(async () => {
    h = await startHarness({
      clientCapabilities: { elicitation: { url: {} } },
      onElicit: (req) => {
        asked.push(req.params as { mode?: string; url?: string });
        return { action: reply };
      },
    });
    h.client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      completed.push(n.params.elicitationId);
    });
    sid = await openSession(h);
  });
  afterAll(async () => h?.close());

  it("at a shell prompt: NO_PASSWORD_PROMPT at once, nothing asked", async () => {
    const r = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    expect(r).toMatchObject({ ok: false, code: "NO_PASSWORD_PROMPT" });
    expect(asked).toHaveLength(0);
  });

  let usedUrl = "";
  it("the human types the secret in the browser: sudo-ok, and the secret is nowhere else", async () => {
    const cmd = await startSudo(h, sid);
    reply = "accept";
    let page: Promise<Awaited<ReturnType<typeof human>>> | undefined;
    const results: unknown[] = [];
    const argv = await cmdlinesContaining(SECRET, async () => {
      const call = h.call("ask_human_secret", {
        session_id: sid,
        reason: "restart nginx <script>alert(1)</script>",
      });
      const url = await pollUntil(() => asked[0]?.url, { message: "no URL elicitation" });
      page = human(url, SECRET);
      results.push(await call, await page);
    });
    expect(argv).toEqual([]);
    const [r, p] = results as [Record<string, unknown>, Awaited<ReturnType<typeof human>>];
    expect(r).toMatchObject({ ok: true, state: "typed", typed: true });
    expect(asked[0]).toMatchObject({ mode: "url" });
    usedUrl = String(asked[0]?.url);
    expect(usedUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/secret\/hs_[\w-]{16}\?token=[\w-]{40,}$/);
    expect(p.form).toMatchObject({ session: sid, reason: "restart nginx <script>alert(1)</script>" });
    expect(p.form.prompt).toContain("[sudo] password for root:");
    expect(p).toMatchObject({ status: 200, title: "Typed" });
    const requestId = new URL(usedUrl).pathname.split("/").pop();
    await pollUntil(() => completed.includes(requestId ?? ""), { message: "no elicitation/complete" });

    const done = await finished(h, sid, cmd);
    expect(done.output).toContain("sudo-ok");
    expect(JSON.stringify(done)).not.toContain(SECRET);
    expect(JSON.stringify(r)).not.toContain(SECRET);
    expect(p.html).not.toContain(SECRET);
    const files = filesUnder(h.runtimeDir);
    expect(files.some((f) => f.text.includes("[HUMAN SECRET]"))).toBe(true);
    expect(files.filter((f) => f.text.includes(SECRET)).map((f) => f.path)).toEqual([]);
    expect(stderrTail).not.toContain(SECRET);
    // The token is not logged either.
    const token = new URL(usedUrl).searchParams.get("token") ?? "";
    expect(files.filter((f) => f.text.includes(token)).map((f) => f.path)).toEqual([]);
    expect(stderrTail).not.toContain(token);
  });

  it("a used link is refused: 410, the page says so, nothing typed", async () => {
    const page = await browser.newPage();
    const r = await page.goto(usedUrl);
    expect(r?.status()).toBe(410);
    expect(await page.textContent("#title")).toBe("Link already used");
    await page.close();
    const id = new URL(usedUrl).pathname.split("/").pop() ?? "";
    const post = await fetch(new URL(`/secret/${id}`, usedUrl), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: new URL(usedUrl).searchParams.get("token") ?? "", secret: "x" }),
    });
    expect(post.status).toBe(410);
  });

  it("a wrong token is refused with 403", async () => {
    const u = new URL(usedUrl);
    u.searchParams.set("token", "A".repeat(43));
    const r = await fetch(u);
    expect(r.status).toBe(403);
    expect(await r.text()).toContain("Wrong link");
  });

  it("a call cancelled while it waits ends its page: 410, nothing typed", async () => {
    const cmd = await startSudo(h, sid);
    reply = "accept";
    const before = asked.length;
    const ac = new AbortController();
    const call = h.client.callTool(
      { name: "ask_human_secret", arguments: { session_id: sid, reason: "sudo" } },
      undefined,
      { signal: ac.signal },
    );
    const url = await pollUntil(() => asked[before]?.url, { message: "no URL elicitation" });
    ac.abort();
    await expect(call).rejects.toThrow();
    await pollUntil(async () => (await fetch(url)).status === 410, { message: "the page still works" });
    const page = await fetch(url);
    expect(await page.text()).toContain("Request ended");
    expect(await command(h, sid, cmd)).toMatchObject({ status: "running", state: "awaiting_input" });
    await h.call("interrupt", { session_id: sid });
  });

  it("URL elicitation declined: HUMAN_DECLINED, nothing typed", async () => {
    const cmd = await startSudo(h, sid);
    reply = "decline";
    const before = asked.length;
    const r = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    expect(r).toMatchObject({ ok: false, code: "HUMAN_DECLINED" });
    expect(asked).toHaveLength(before + 1);
    // Still at the prompt, nothing typed; the declined page no longer opens.
    const c = await command(h, sid, cmd);
    expect(c).toMatchObject({ status: "running", state: "awaiting_input", input_kind: "password" });
    expect((await fetch(String(asked[before]?.url))).status).toBe(410);
    await h.call("interrupt", { session_id: sid });
  });
});

describe("without URL elicitation: the two-call flow", () => {
  let h: Harness;
  let sid: string;

  beforeAll(async () => {
    // A short page life, so expiry is seen within the test.
    h = await startHarness({ env: { SSH_MCP_HUMAN_SECRET_TTL_MS: "15000" } });
    sid = await openSession(h);
  });
  afterAll(async () => h?.close());

  it("returns the URL at once, then a second call waits for the human and the secret is typed", async () => {
    const cmd = await startSudo(h, sid);
    const first = await h.call("ask_human_secret", { session_id: sid, reason: "apt upgrade" });
    expect(first).toMatchObject({ ok: true, state: "waiting_for_human", typed: false });
    expect(first.url).toMatch(/\/secret\/hs_[\w-]{16}\?token=/);
    expect(Date.parse(String(first.expires_at))).toBeGreaterThan(Date.now());
    const again = await h.call("ask_human_secret", {
      session_id: sid,
      reason: "apt upgrade",
      request_id: first.request_id,
      timeout: 0.2,
    });
    expect(again).toMatchObject({ ok: true, state: "waiting_for_human", request_id: first.request_id });
    const call = h.call("ask_human_secret", {
      session_id: sid,
      reason: "apt upgrade",
      request_id: first.request_id,
      timeout: 60,
    });
    const p = await human(String(first.url), SECRET);
    expect(p.title).toBe("Typed");
    expect(await call).toMatchObject({ ok: true, state: "typed", typed: true });
    expect((await finished(h, sid, cmd)).output).toContain("sudo-ok");
  });

  it("Decline on the page: HUMAN_DECLINED, nothing typed", async () => {
    const cmd = await startSudo(h, sid);
    const first = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    const p = await human(String(first.url), "not-this", "decline");
    expect(p).toMatchObject({ status: 200, title: "Declined" });
    const r = await h.call("ask_human_secret", {
      session_id: sid,
      reason: "sudo",
      request_id: first.request_id,
    });
    expect(r).toMatchObject({ ok: false, code: "HUMAN_DECLINED" });
    const c = await command(h, sid, cmd);
    expect(c).toMatchObject({ status: "running", state: "awaiting_input" });
    await h.call("interrupt", { session_id: sid });
  });

  it("a prompt swapped after asking is refused: NO_PASSWORD_PROMPT, the value typed nowhere", async () => {
    await startSudo(h, sid);
    const first = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    expect(first).toMatchObject({ ok: true, state: "waiting_for_human" });
    // The agent replaces sudo's prompt by another program's, one that would echo what it reads.
    await h.call("interrupt", { session_id: sid });
    const swapped = (await h.call("execute_command", {
      session_id: sid,
      command: "read -s -p '[sudo] password for root: ' p; echo; echo \"caught=$p\"",
      timeout: 30,
    })) as unknown as Cmd;
    expect(swapped).toMatchObject({ state: "awaiting_input", input_kind: "password" });
    const p = await human(String(first.url), SECRET);
    expect(p.title, p.html.slice(0, 3000)).not.toBe("Typed");
    const r = await h.call("ask_human_secret", {
      session_id: sid,
      reason: "sudo",
      request_id: first.request_id,
    });
    expect(r).toMatchObject({ ok: false, code: "NO_PASSWORD_PROMPT" });
    const c = await command(h, sid, swapped.command_id);
    expect(c).toMatchObject({ status: "running", state: "awaiting_input" });
    expect(JSON.stringify(c)).not.toContain(SECRET);
    await h.call("interrupt", { session_id: sid });
  });

  it("an unused page expires: HUMAN_SECRET_EXPIRED, and the link answers 410", async () => {
    await startSudo(h, sid);
    const first = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    // An empty submit types nothing and leaves the page usable.
    const url = new URL(String(first.url));
    const empty = await fetch(url.origin + url.pathname, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: url.searchParams.get("token") ?? "", secret: "", action: "submit" }),
    });
    expect(empty.status).toBe(400);
    expect(await empty.text()).toContain("nothing was typed");
    expect((await fetch(url)).status).toBe(200);
    const r = await h.call("ask_human_secret", {
      session_id: sid,
      reason: "sudo",
      request_id: first.request_id,
      timeout: 60,
    });
    expect(r).toMatchObject({ ok: false, code: "HUMAN_SECRET_EXPIRED" });
    const page = await fetch(String(first.url));
    expect(page.status).toBe(410);
    expect(await page.text()).toContain("expired");
    await h.call("interrupt", { session_id: sid });
  });

  it("an unknown request_id: HUMAN_SECRET_EXPIRED saying a restart drops requests", async () => {
    const r = await h.call("ask_human_secret", {
      session_id: sid,
      reason: "sudo",
      request_id: "hs_AAAAAAAAAAAAAAAA",
    });
    expect(r).toMatchObject({ ok: false, code: "HUMAN_SECRET_EXPIRED" });
    expect(r.error).toMatch(/restarted/);
  });
});

describe("with no viewer", () => {
  let h: Harness;
  let sid: string;

  beforeAll(async () => {
    h = await startHarness({ env: { SSH_MCP_VIEWER_PORT: "off" } });
    sid = await openSession(h);
  });
  afterAll(async () => h?.close());

  it("VIEWER_UNAVAILABLE, saying what to do; nothing typed", async () => {
    const cmd = await startSudo(h, sid);
    const r = await h.call("ask_human_secret", { session_id: sid, reason: "sudo" });
    expect(r).toMatchObject({ ok: false, code: "VIEWER_UNAVAILABLE" });
    expect(r.error).toMatch(/SSH_MCP_VIEWER_PORT=off/);
    expect(await command(h, sid, cmd)).toMatchObject({ status: "running", state: "awaiting_input" });
    await h.call("interrupt", { session_id: sid });
  });
});
