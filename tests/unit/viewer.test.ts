import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { SessionManager } from "../../src/session/manager.js";
import { buildViewerApp } from "../../src/viewer/app.js";
import { LiveLimiter } from "../../src/viewer/limits.js";
import { screenFrame } from "../../src/viewer/screen.js";
import { allowedHosts, hostAllowed, originAllowed, tokenMatches } from "../../src/viewer/security.js";
import { TranscriptStore } from "../../src/viewer/store.js";
import { TranscriptWriter } from "../../src/transcript/writer.js";

/** The viewer's routes through app.inject(): no socket, real files, real store. */

const TOKEN = "t0ken-".padEnd(32, "x");
const PORT = 8799;
const HOST = `127.0.0.1:${PORT}`;
let dir: string;
let store: TranscriptStore;
let app: FastifyInstance;
const SID = "test-20260101-000000-abcdef";
const LEGACY = "old-session-1";

function line(ev: Record<string, unknown>): string {
  return JSON.stringify({ ts: new Date().toISOString(), session_id: SID, ...ev }) + "\n";
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-viewer-"));
  const inst = join(dir, "instances", "ssh-mcp-20260101-000000-1-abcd");
  mkdirSync(join(inst, "transcripts"), { recursive: true });
  writeFileSync(
    join(inst, "server_meta.json"),
    JSON.stringify({ server_instance_id: "ssh-mcp-20260101-000000-1-abcd" }),
  );
  writeFileSync(
    join(inst, "transcripts", `${SID}.jsonl`),
    line({
      dir: "session_meta",
      profile: "lab",
      host: "127.0.0.1",
      owner_label: "<b>owner</b>",
      server_instance_id: "ssh-mcp-20260101-000000-1-abcd",
    }) +
      line({ dir: "send", tool: "execute_command", text: "ls\n", actor: "agent" }) +
      line({ dir: "recv", text: "\u001b[31mred\u001b[0m\r\n" }),
  );
  mkdirSync(join(dir, "transcripts"));
  writeFileSync(
    join(dir, "transcripts", `${LEGACY}.jsonl`),
    line({ dir: "session_meta", profile: "old" }).replace(SID, LEGACY),
  );
  store = new TranscriptStore(dir);
  await store.start();
  app = buildViewerApp({ store, token: TOKEN, host: "127.0.0.1", port: () => PORT });
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

const get = (url: string, headers: Record<string, string> = {}) =>
  app.inject({ method: "GET", url, headers: { host: HOST, ...headers } });

describe("security guards", () => {
  it("pure checks", () => {
    expect(tokenMatches("abc", "abc")).toBe(true);
    expect(tokenMatches("abc", "abd")).toBe(false);
    expect(tokenMatches("abc", undefined)).toBe(false);
    expect(hostAllowed("mybox.lan:8765", allowedHosts("MyBox.lan", 8765))).toBe(true);
    expect(hostAllowed("localhost", allowedHosts("127.0.0.1", 80))).toBe(true);
    const allowed = allowedHosts("127.0.0.1", 8765);
    expect(hostAllowed("localhost:8765", allowed)).toBe(true);
    expect(hostAllowed("evil.example:8765", allowed)).toBe(false);
    expect(hostAllowed("127.0.0.1:9999", allowed)).toBe(false);
    expect(originAllowed(undefined, allowed)).toBe(true);
    expect(originAllowed("http://127.0.0.1:8765", allowed)).toBe(true);
    expect(originAllowed("https://evil.example", allowed)).toBe(false);
    expect(originAllowed("null", allowed)).toBe(false);
  });

  it("every route needs the token", async () => {
    for (const url of [
      "/",
      "/api/sessions",
      `/sessions/${SID}`,
      `/api/sessions/${SID}/events`,
      "/assets/xterm.js",
    ]) {
      const r = await get(url);
      expect(r.statusCode, url).toBe(401);
      expect(r.json()).toMatchObject({ ok: false, code: "BAD_TOKEN" });
      expect((await get(`${url}${url.includes("?") ? "&" : "?"}token=${TOKEN}`)).statusCode, url).toBe(200);
    }
    expect((await get("/api/sessions", { "x-ssh-mcp-token": TOKEN })).statusCode).toBe(200);
    expect((await get("/api/sessions?token=wrong")).statusCode).toBe(401);
  });

  it("refuses foreign Host headers (DNS rebinding) and cross-site origins", async () => {
    const rebound = await app.inject({
      method: "GET",
      url: `/api/sessions?token=${TOKEN}`,
      headers: { host: `evil.example:${PORT}` },
    });
    expect(rebound.statusCode).toBe(421);
    const cross = await get(`/api/sessions?token=${TOKEN}`, { origin: "https://evil.example" });
    expect(cross.statusCode).toBe(403);
    const post = await app.inject({
      method: "POST",
      url: `/api/sessions/${SID}/lock?token=${TOKEN}`,
      headers: { host: HOST, origin: "https://evil.example", "content-type": "application/json" },
      payload: { action: "acquire" },
    });
    expect(post.statusCode).toBe(403);
  });

  it("bad tokens, bad numbers and odd lines are client errors, never 500s with internals", async () => {
    const odd = await get(`/api/sessions?token=${"%C3%A9".repeat(32)}`);
    expect(odd.statusCode).toBe(401);
    for (const q of ["after_line=-1", "wait_ms=999999", "after_line=1e300"]) {
      const r = await get(`/api/sessions/${SID}/events?${q}&token=${TOKEN}`);
      expect(r.statusCode, q).toBe(400);
      expect(r.body).not.toMatch(/ZodError|"path"|issues/);
    }
    const page = await get(`/?token=${TOKEN}`);
    expect(page.headers["referrer-policy"]).toBe("no-referrer");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("validates session ids (no traversal) and takes only small JSON bodies", async () => {
    for (const bad of ["..%2F..%2Fetc%2Fpasswd", "a.b", "%2e%2e"]) {
      const r = await get(`/api/sessions/${bad}/events?token=${TOKEN}`);
      expect([400, 404]).toContain(r.statusCode);
      expect(r.body).not.toContain("root:");
    }
    expect((await get(`/api/sessions/nope-1/events?token=${TOKEN}`)).statusCode).toBe(404);
    const text = await app.inject({
      method: "POST",
      url: `/api/sessions/${SID}/input?token=${TOKEN}`,
      headers: { host: HOST, "content-type": "text/plain" },
      payload: "ls",
    });
    expect(text.statusCode).toBe(415);
    const big = await app.inject({
      method: "POST",
      url: `/api/sessions/${SID}/input?token=${TOKEN}`,
      headers: { host: HOST, "content-type": "application/json" },
      payload: JSON.stringify({ data: "x".repeat(200_000) }),
    });
    expect(big.statusCode).toBe(413);
    const ro = await app.inject({
      method: "POST",
      url: `/api/sessions/${SID}/input?token=${TOKEN}`,
      headers: { host: HOST, "content-type": "application/json" },
      payload: { data: "ls" },
    });
    expect(ro.json()).toMatchObject({ ok: false, code: "READ_ONLY" });
  });
});

describe("routes", () => {
  it("lists sessions grouped by instance, legacy transcripts included, HTML escaped", async () => {
    const api = (await get(`/api/sessions?token=${TOKEN}`)).json() as {
      sessions: { session_id: string; scope: string; server_instance_id: string }[];
      instances: unknown[];
    };
    const ids = api.sessions.map((s) => `${s.session_id}:${s.scope}:${s.server_instance_id}`).sort();
    expect(ids).toEqual([`${LEGACY}:legacy:legacy`, `${SID}:instance:ssh-mcp-20260101-000000-1-abcd`]);
    expect(api.instances).toHaveLength(1);
    const html = (await get(`/?token=${TOKEN}`)).body;
    expect(html).toContain("ssh-mcp-20260101-000000-1-abcd");
    expect(html).toContain("legacy");
    expect(html).toContain("&#60;b&#62;owner&#60;/b&#62;");
    expect(html).not.toContain("<b>owner</b>");
  });

  it("serves the terminal page with xterm.js", async () => {
    const page = (await get(`/sessions/${SID}?token=${TOKEN}`)).body;
    expect(page).toContain("/assets/xterm.js");
    expect(page).toContain(SID);
    const js = await get(`/assets/xterm.js?token=${TOKEN}`);
    expect(js.headers["content-type"]).toMatch(/javascript/);
    expect(js.body).toContain("Terminal");
  });

  it("events: reads incrementally from after_line", async () => {
    const all = (await get(`/api/sessions/${SID}/events?token=${TOKEN}`)).json() as {
      events: { dir: string }[];
      next_line: number;
    };
    expect(all.events.map((e) => e.dir)).toEqual(["session_meta", "send", "recv"]);
    expect(all.next_line).toBe(3);
    const tail = (await get(`/api/sessions/${SID}/events?after_line=2&token=${TOKEN}`)).json() as {
      events: { dir: string }[];
    };
    expect(tail.events.map((e) => e.dir)).toEqual(["recv"]);
  });

  it("long poll wakes up when a line is appended", async () => {
    const path = store.files.get(SID)?.path as string;
    const pending = get(`/api/sessions/${SID}/events?after_line=3&wait_ms=20000&token=${TOKEN}`);
    setTimeout(() => appendFileSync(path, line({ dir: "recv", text: "late line\r\n" })), 100);
    const r = (await pending).json() as { events: { text?: string }[]; next_line: number };
    expect(r.events.map((e) => e.text)).toEqual(["late line\r\n"]);
    expect(r.next_line).toBe(4);
  });
  it("a session started after the viewer, and lines nobody followed, are there when asked", async () => {
    const id = "later-session-1";
    const path = join(dir, "instances", "ssh-mcp-20260101-000000-1-abcd", "transcripts", `${id}.jsonl`);
    writeFileSync(path, line({ dir: "session_meta", profile: "later" }).replaceAll(SID, id));
    // Straight away: its page, then its events, then the list.
    expect((await get(`/sessions/${id}?token=${TOKEN}`)).statusCode).toBe(200);
    appendFileSync(path, line({ dir: "recv", text: "one\r\n" }).replaceAll(SID, id));
    const ev = (await get(`/api/sessions/${id}/events?token=${TOKEN}`)).json() as {
      events: { dir: string }[];
    };
    expect(ev.events.map((e) => e.dir)).toEqual(["session_meta", "recv"]);
    const list = (await get(`/api/sessions?token=${TOKEN}`)).json() as { sessions: { session_id: string }[] };
    expect(list.sessions.map((s) => s.session_id)).toContain(id);
  });
});

describe("TranscriptStore", () => {
  it("reads a multi-megabyte transcript in chunks without losing or splitting lines", () => {
    const d = mkdtempSync(join(tmpdir(), "ssh-mcp-store-"));
    try {
      const inst = join(d, "instances", "inst-1", "transcripts");
      mkdirSync(inst, { recursive: true });
      const id = "big-session-1";
      const lines: string[] = [];
      for (let i = 0; i < 30_000; i++) {
        lines.push(
          JSON.stringify({
            ts: "2026-01-01T00:00:00.000Z",
            session_id: id,
            dir: "recv",
            text: `line ${i} ${"é".repeat(40)}`,
          }),
        );
      }
      writeFileSync(join(inst, `${id}.jsonl`), lines.join("\n") + "\n");
      const s = new TranscriptStore(d);
      s.rescan();
      expect(s.files.get(id)?.lineStarts).toHaveLength(30_000);
      let next = 0;
      let seen = 0;
      let last = "";
      while (next < 30_000) {
        const page = s.read(id, next, 7000, 500_000);
        expect(page.next).toBeGreaterThan(next);
        seen += page.events.length;
        last = String(page.events[page.events.length - 1]?.text);
        next = page.next;
      }
      expect(seen).toBe(30_000);
      expect(last).toBe(`line 29999 ${"é".repeat(40)}`);
    } finally {
      rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  it("indexes appends as they come: activity time from output lines, state from the others", () => {
    const d = mkdtempSync(join(tmpdir(), "ssh-mcp-store-"));
    try {
      const id = "idx-session-1";
      const dir = join(d, "instances", "inst-1", "transcripts");
      mkdirSync(dir, { recursive: true });
      const path = join(dir, `${id}.jsonl`);
      const w = new TranscriptWriter(path, id);
      w.write("session_meta", { profile: "p", host: "h" });
      const s = new TranscriptStore(d);
      s.rescan();
      for (let i = 0; i < 50; i++) w.write("recv", { text: `out ${i}\r\n` });
      s.update(path);
      const f = s.files.get(id);
      const lines = readFileSync(path, "utf8").trimEnd().split("\n");
      expect(f?.lineStarts).toHaveLength(51);
      expect(f?.lastTs).toBe((JSON.parse(lines[50] as string) as { ts: string }).ts);
      expect(f?.meta).toMatchObject({ profile: "p", host: "h" });
      w.write("session_health", { health_status: "unhealthy", health_error: "status 255" });
      w.write("recv", { text: "tail" });
      s.update(path);
      expect(f).toMatchObject({ status: "unhealthy", healthError: "status 255" });
      expect(s.read(id, 0).events).toHaveLength(53);
      w.close();
    } finally {
      rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  it("a legacy copy never hides the instance transcript of the same session", () => {
    const d = mkdtempSync(join(tmpdir(), "ssh-mcp-store-"));
    try {
      const id = "dup-session-1";
      mkdirSync(join(d, "instances", "inst-1", "transcripts"), { recursive: true });
      mkdirSync(join(d, "transcripts"));
      const ev = (text: string) =>
        JSON.stringify({ ts: "2026-01-01T00:00:00.000Z", session_id: id, dir: "recv", text }) + "\n";
      writeFileSync(join(d, "instances", "inst-1", "transcripts", `${id}.jsonl`), ev("instance copy"));
      writeFileSync(join(d, "transcripts", `${id}.jsonl`), ev("legacy copy"));
      const s = new TranscriptStore(d);
      s.rescan();
      expect(s.files.get(id)?.scope).toBe("instance");
      expect(s.read(id, 0).events[0]?.text).toBe("instance copy");
    } finally {
      rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});

/** Every response: a CSP without inline script, no sniffing, no Referer (the URL has the token). */
function expectHardened(headers: Record<string, unknown>, what: string): void {
  const csp = String(headers["content-security-policy"] ?? "");
  const directives = new Map(
    csp.split(";").map((d) => {
      const [name = "", ...values] = d.trim().split(/\s+/);
      return [name, values.join(" ")] as const;
    }),
  );
  expect(directives.get("default-src"), what).toBe("'self'");
  expect(directives.get("script-src"), what).toBe("'self'");
  expect(directives.get("object-src"), what).toBe("'none'");
  expect(directives.get("base-uri"), what).toBe("'none'");
  expect(directives.get("frame-ancestors"), what).toBe("'none'");
  expect(csp, what).not.toMatch(/unsafe-eval|\*/);
  expect(headers["x-content-type-options"], what).toBe("nosniff");
  expect(headers["referrer-policy"], what).toBe("no-referrer");
}

describe("hardening", () => {
  it("every response carries the CSP and the other headers: pages, API, assets, refusals, errors", async () => {
    const t = `token=${TOKEN}`;
    const cases: [string, number, Record<string, string>?][] = [
      [`/?${t}`, 200],
      [`/api/sessions?${t}`, 200],
      [`/sessions/${SID}?${t}`, 200],
      [`/api/sessions/${SID}/events?${t}`, 200],
      [`/assets/xterm.js?${t}`, 200],
      [`/assets/xterm.css?${t}`, 200],
      [`/assets/session.js?${t}`, 200],
      [`/assets/viewer.css?${t}`, 200],
      [`/assets/nope.js?${t}`, 404],
      [`/assets/..%2Fapp.ts?${t}`, 404],
      [`/nowhere?${t}`, 404],
      [`/sessions/${SID}`, 401],
      [`/api/sessions/nope-1/events?${t}`, 404],
      [`/api/sessions/${SID}/events?after_line=-1&${t}`, 400],
      [`/api/sessions/${SID}/live?${t}`, 409],
      [`/?${t}`, 421, { host: `evil.example:${PORT}` }],
      [`/?${t}`, 403, { origin: "https://evil.example" }],
    ];
    for (const [url, status, headers] of cases) {
      const r = await get(url, headers);
      expect(r.statusCode, url).toBe(status);
      expectHardened(r.headers, `${status} ${url}`);
    }
    for (const [payload, type, status] of [
      ["ls", "text/plain", 415],
      [JSON.stringify({ data: "x".repeat(200_000) }), "application/json", 413],
      ["{", "application/json", 400],
    ] as const) {
      const r = await app.inject({
        method: "POST",
        url: `/api/sessions/${SID}/input?${t}`,
        headers: { host: HOST, "content-type": type },
        payload,
      });
      expect(r.statusCode, type).toBe(status);
      expectHardened(r.headers, `POST ${status}`);
    }
    // Only the session page (xterm.js's DOM renderer) may use inline styles; nowhere inline script.
    expect((await get(`/sessions/${SID}?${t}`)).headers["content-security-policy"]).toContain(
      "style-src 'self' 'unsafe-inline'",
    );
    expect((await get(`/?${t}`)).headers["content-security-policy"]).toContain("style-src 'self';");
  });

  it("the pages hold no inline script, event handler or style: it is all in /assets/", async () => {
    for (const url of [
      `/?token=${TOKEN}`,
      `/sessions/${SID}?token=${TOKEN}`,
      `/sessions/${SID}?live=1&token=${TOKEN}`,
    ]) {
      const html = (await get(url)).body;
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
      for (const [, attrs, body] of scripts) {
        expect(attrs, url).toMatch(/\bsrc="\/assets\//);
        expect(body?.trim(), url).toBe("");
      }
      expect(html, url).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    }
    const page = (await get(`/sessions/${SID}?token=${TOKEN}`)).body;
    expect(page).toContain(`data-session="${SID}"`);
    expect(page).toContain(`data-token="${TOKEN}"`);
    const js = await get(`/assets/session.js?token=${TOKEN}`);
    expect(js.headers["content-type"]).toMatch(/javascript/);
    expect(js.body).toContain("new Terminal(");
  });

  it("history: commands, typed text and quoted lines are redacted when the profile redacts", async () => {
    const id = "redact-session-1";
    const path = join(dir, "instances", "ssh-mcp-20260101-000000-1-abcd", "transcripts", `${id}.jsonl`);
    const ev = (e: Record<string, unknown>) => line(e).replace(SID, id);
    writeFileSync(
      path,
      ev({ dir: "session_meta", profile: "plain" }) +
        ev({
          dir: "command_start",
          command_id: "c1",
          nonce: "n0nce",
          command: "curl -H 'Authorization: Bearer abcdefghijklmnop1234' https://x",
        }) +
        ev({ dir: "send", tool: "send_text", text: "export API_TOKEN=s3cr3t-value-1\n", actor: "agent" }) +
        ev({
          dir: "send",
          tool: "viewer",
          actor: "human",
          text: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        }) +
        ev({ dir: "recv", text: "as the tap wrote it\r\n" }),
    );
    const body = (await get(`/api/sessions/${id}/events?token=${TOKEN}`)).body;
    for (const secret of ["abcdefghijklmnop1234", "s3cr3t-value-1", "b3BlbnNzaC1rZXktdjEAAAAA"])
      expect(body).not.toContain(secret);
    const events = (JSON.parse(body) as { events: Record<string, unknown>[] }).events;
    expect(events[1]).toMatchObject({ command_id: "c1", nonce: "n0nce" });
    expect(String(events[1]?.command)).toMatch(/^curl -H 'Authorization: Bearer \S/);
    expect(events[4]).toMatchObject({ text: "as the tap wrote it\r\n" });
    // A profile that does not redact shows what was sent.
    const raw = buildViewerApp({
      store,
      token: TOKEN,
      host: "127.0.0.1",
      port: () => PORT,
      profiles: { plain: { security: { redact_transcripts: false } } },
    });
    try {
      const r = await raw.inject({
        method: "GET",
        url: `/api/sessions/${id}/events?token=${TOKEN}`,
        headers: { host: HOST },
      });
      expect(r.body).toContain("s3cr3t-value-1");
    } finally {
      await raw.close();
    }
  });
});

const KEY_BODY = [
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "QyNTUxOQAAACBcBk6P1qL0Jf2xYvtqW8mHn2kZsV0q7YcLz3DKe4hTgAAAAJgAAAAAAAAA",
];
const PANE = [
  "$ cat ~/.ssh/id_ed25519",
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  ...KEY_BODY,
  "-----END OPENSSH PRIVATE KEY-----",
  "$ env | grep -i pass",
  "DB_\x1b[01;31mPASS\x1b[0mWORD=hunter2-in-colors",
  "\x1b[32mgreen-ok\x1b[39m",
  "$ ",
  "",
].join("\n");

describe("live screen frames", () => {
  it("redacts a key block, also when its BEGIN line is above the screen, and keeps colors elsewhere", () => {
    const f = screenFrame(PANE + "\n", 80, 10, { x: 2, y: 8 }, true);
    const text = f.lines.join("\n");
    for (const secret of [...KEY_BODY, "hunter2-in-colors"]) expect(text).not.toContain(secret);
    expect(text).toContain("-----BEGIN OPENSSH PRIVATE KEY-----");
    expect(text).toContain("\x1b[32mgreen-ok\x1b[39m");
    expect(f.lines).toHaveLength(10);
    // A screen of 4 rows shows only key lines; the history read above it holds the BEGIN.
    const small = screenFrame(PANE + "\n", 80, 4, { x: 0, y: 0 }, true).lines.join("\n");
    for (const secret of KEY_BODY) expect(small).not.toContain(secret);
    expect(screenFrame(PANE + "\n", 80, 10, { x: 0, y: 0 }, false).lines.join("\n")).toContain(KEY_BODY[0]);
  });

  it("keeps the last screenful, counting the rows a long line wraps to", () => {
    const f = screenFrame(
      ["one", "two", "x".repeat(25), "last"].join("\n") + "\n",
      10,
      4,
      { x: 0, y: 0 },
      false,
    );
    // 25 columns wrap to 3 rows at width 10: with "last", the screen is full.
    expect(f.lines).toEqual(["x".repeat(25), "last"]);
    expect(screenFrame("a\n", 10, 3, { x: 0, y: 0 }, false).lines).toEqual(["", "", "a"]);
  });

  it("the caps come from SSH_MCP_VIEWER_LIVE_PER_SESSION and SSH_MCP_VIEWER_LIVE_MAX (8 and 32)", () => {
    const env = { SSH_MCP_CONFIG: join(dir, "none.json") };
    expect(loadConfig({}, env, dir).viewerLive).toEqual({ perSession: 8, total: 32 });
    expect(
      loadConfig({}, { ...env, SSH_MCP_VIEWER_LIVE_PER_SESSION: "2", SSH_MCP_VIEWER_LIVE_MAX: "5" }, dir)
        .viewerLive,
    ).toEqual({ perSession: 2, total: 5 });
    expect(() => loadConfig({}, { ...env, SSH_MCP_VIEWER_LIVE_MAX: "0" }, dir)).toThrow(
      /SSH_MCP_VIEWER_LIVE_MAX/,
    );
  });

  it("the limiter: per session and in all, release once", () => {
    const l = new LiveLimiter({ perSession: 2, total: 3 });
    const a = l.acquire("a");
    const b = l.acquire("a");
    expect(l.acquire("a")).toEqual({ ok: false, scope: "session", limit: 2 });
    const c = l.acquire("b");
    expect(l.acquire("c")).toEqual({ ok: false, scope: "total", limit: 3 });
    if (!a.ok || !b.ok || !c.ok) throw new Error("slots");
    a.release();
    a.release();
    expect(l.active()).toBe(2);
    expect(l.active("a")).toBe(1);
    expect(l.acquire("a").ok).toBe(true);
  });
});

/** An event stream over a real socket: its status, headers, what came so far, and a way to hang up. */
interface Stream {
  res: IncomingMessage;
  body(): string;
  waitFor(pred: (body: string) => boolean, ms?: number): Promise<string>;
  close(): void;
}

function openStream(port: number, path: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      let body = "";
      const waiters = new Set<() => void>();
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
        for (const w of waiters) w();
      });
      res.on("error", () => undefined);
      resolve({
        res,
        body: () => body,
        waitFor: (pred, ms = 5000) =>
          new Promise((ok, fail) => {
            const check = (): void => {
              if (!pred(body)) return;
              waiters.delete(check);
              clearTimeout(timer);
              ok(body);
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`stream: timed out; got ${body.slice(0, 500)}`));
            }, ms);
            waiters.add(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on("error", reject);
    req.end();
  });
}

async function pollUntil(what: string, fn: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("live mode (a real socket, a stand-in tmux)", () => {
  const SID2 = "live-session-2";
  let live: FastifyInstance;
  let port = 0;
  let captures = 0;

  beforeAll(async () => {
    const path = join(dir, "instances", "ssh-mcp-20260101-000000-1-abcd", "transcripts", `${SID2}.jsonl`);
    writeFileSync(path, line({ dir: "session_meta", profile: "lab" }).replace(SID, SID2));
    const session = (id: string) => ({
      id,
      status: "open",
      paneId: `%${id.length}`,
      tmuxName: id,
      profile: { width: 80, height: 10, security: { redact_transcripts: true } },
    });
    const tmux = {
      socket: "not-used",
      paneInfo: async () => ({ width: 80, height: 10, cursorX: 2, cursorY: 8, dead: false }),
      capture: async () => {
        captures++;
        return PANE + "\n";
      },
    };
    const sessions = new Map([
      [SID, session(SID)],
      [SID2, session(SID2)],
    ]);
    const manager = {
      known: (id: string) => sessions.get(id),
      all: () => [...sessions.values()],
      tmux,
      info: () => undefined,
    } as unknown as SessionManager;
    live = buildViewerApp({
      store,
      token: TOKEN,
      host: "127.0.0.1",
      port: () => port,
      manager,
      liveLimits: { perSession: 2, total: 3 },
      livePollMs: 50,
    });
    await live.listen({ host: "127.0.0.1", port: 0 });
    port = (live.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await live?.close();
  });

  const liveUrl = (id: string) => `/api/sessions/${id}/live?token=${TOKEN}`;

  it("streams redacted frames: a private key printed in the pane never leaves", async () => {
    const s = await openStream(port, liveUrl(SID));
    try {
      expect(s.res.statusCode).toBe(200);
      expectHardened(s.res.headers, "live stream");
      const body = await s.waitFor((b) => b.includes("event: frame"));
      expect(body).toContain('event: size\ndata: {"cols":80,"rows":10}');
      const frame = JSON.parse(/event: frame\ndata: (.*)\n/.exec(body)?.[1] ?? "{}") as { lines: string[] };
      const text = frame.lines.join("\n");
      expect(text).toContain("BEGIN OPENSSH PRIVATE KEY");
      expect(text).toContain("green-ok");
      for (const secret of [...KEY_BODY, "hunter2-in-colors"]) expect(body).not.toContain(secret);
    } finally {
      s.close();
    }
  });

  it("refuses the stream over the cap with 429 TOO_MANY_LIVE_STREAMS and frees a slot on disconnect", async () => {
    const a = await openStream(port, liveUrl(SID));
    const b = await openStream(port, liveUrl(SID));
    const open = [a, b];
    try {
      expect([a.res.statusCode, b.res.statusCode]).toEqual([200, 200]);
      const over = await openStream(port, liveUrl(SID));
      expect(over.res.statusCode).toBe(429);
      expectHardened(over.res.headers, "429");
      const refusal = JSON.parse(await over.waitFor((x) => x.endsWith("}"))) as {
        code: string;
        error: string;
      };
      expect(refusal).toMatchObject({ ok: false, code: "TOO_MANY_LIVE_STREAMS" });
      expect(refusal.error).toMatch(/SSH_MCP_VIEWER_LIVE_PER_SESSION.*Close/);
      // Another session has room until the total is reached.
      const c = await openStream(port, liveUrl(SID2));
      open.push(c);
      expect(c.res.statusCode).toBe(200);
      const total = await openStream(port, liveUrl(SID2));
      expect(total.res.statusCode).toBe(429);
      expect(await total.waitFor((x) => x.endsWith("}"))).toContain("SSH_MCP_VIEWER_LIVE_MAX");
      // A page that goes away gives its slot back.
      a.close();
      await pollUntil("a slot freed", async () => {
        const again = await openStream(port, liveUrl(SID));
        if (again.res.statusCode === 200) open.push(again);
        else again.close();
        return again.res.statusCode === 200;
      });
    } finally {
      for (const s of open) s.close();
    }
    // Every stream closed: all slots back, and the capture loops stop.
    await pollUntil("all slots freed", async () => {
      const streams = await Promise.all([
        openStream(port, liveUrl(SID)),
        openStream(port, liveUrl(SID)),
        openStream(port, liveUrl(SID2)),
      ]);
      const ok = streams.every((s) => s.res.statusCode === 200);
      for (const s of streams) s.close();
      return ok;
    });
    await new Promise((r) => setTimeout(r, 200));
    const before = captures;
    await new Promise((r) => setTimeout(r, 300));
    expect(captures).toBe(before);
  });
});
