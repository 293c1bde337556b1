import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildViewerApp } from "../../src/viewer/app.js";
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
