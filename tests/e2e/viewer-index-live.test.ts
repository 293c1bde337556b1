import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TranscriptWriter } from "../../src/transcript/writer.js";
import { startViewer, type RunningViewer } from "../../src/viewer/server.js";
import { TranscriptStore } from "../../src/viewer/store.js";
import { launchBrowser, readStream } from "../support/browser.js";
import { pollUntil } from "../support/poll.js";

/**
 * The index page follows the runtime directory: a real viewer on a temporary runtime dir, a real
 * browser on its index, and transcripts written the way the server writes them. What appears
 * must show in the open page without a reload; the directory watch runs only while a page (or
 * stream) is open.
 */

const INSTANCE = "ssh-mcp-20260101-000000-1-aaaa";
const NEW_INSTANCE = "ssh-mcp-20260101-000100-2-bbbb";
const FIRST = "first-20260101-000000-aaaaaa";
const SAME_INSTANCE = "later-20260101-000010-bbbbbb";
const OTHER_INSTANCE = "other-20260101-000020-cccccc";
/** Markup in a field: the page must show it as text. */
const HOSTILE_OWNER = '<img src="/x" id="injected">';

let dir: string;
let viewer: RunningViewer;
let browser: Browser;

/** A transcript as the server starts one: its session_meta line first (session/open.ts). */
function writeTranscript(instance: string, sessionId: string, owner = "index-test"): void {
  const transcripts = join(dir, "instances", instance, "transcripts");
  const writer = new TranscriptWriter(join(transcripts, `${sessionId}.jsonl`), sessionId);
  writer.mustWrite("session_meta", {
    profile: "test",
    host: "127.0.0.1",
    owner_label: owner,
    server_instance_id: instance,
  });
  writer.write("event", { event: "opened" });
  writer.close();
}

function addInstance(instance: string): void {
  mkdirSync(join(dir, "instances", instance), { recursive: true });
  writeFileSync(
    join(dir, "instances", instance, "server_meta.json"),
    JSON.stringify({ server_instance_id: instance }),
  );
}

/** Directory watches (fs.watch handles) this process holds now: chokidar's, among others. */
const watchHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === "FSEventWrap").length;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-index-live-"));
  addInstance(INSTANCE);
  writeTranscript(INSTANCE, FIRST);
  viewer = await startViewer({ host: "127.0.0.1", port: "auto", runtimeDir: dir });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

/** A page that records what its Content-Security-Policy blocked and any script error. */
async function watchedPage(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return { page, problems };
}

const sessionLinks = (page: Page): Promise<string[]> =>
  page.$$eval("#sessions tbody td:first-child a", (links) => links.map((a) => a.textContent ?? ""));

describe("the viewer's index, live", () => {
  it("shows a new session and a new instance in the open page without a reload", async () => {
    const before = watchHandles();
    const { page, problems } = await watchedPage();
    const response = await page.goto(viewer.url());
    expect(response?.status()).toBe(200);
    expect(await sessionLinks(page)).toEqual([FIRST]);
    // The page's own marker and a count of its navigations: both tell a reload.
    await page.evaluate(() => {
      (window as unknown as { stillHere: boolean }).stillHere = true;
    });
    let navigations = 0;
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    // The page's stream started the directory watch (lazily: none before it).
    await pollUntil(() => watchHandles() > before, { message: "the index watch did not start" });

    writeTranscript(INSTANCE, SAME_INSTANCE);
    await pollUntil(async () => (await sessionLinks(page)).includes(SAME_INSTANCE), {
      message: "a new session of a known instance did not appear in the open index",
    });
    // In two steps: the first may have come with the watch's first look; this one, after the
    // page had it, can only come from what the watch saw appear.
    addInstance(NEW_INSTANCE);
    writeTranscript(NEW_INSTANCE, OTHER_INSTANCE, HOSTILE_OWNER);
    await pollUntil(async () => (await sessionLinks(page)).includes(OTHER_INSTANCE), {
      message: "a new instance's session did not appear in the open index",
    });
    expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true);
    expect(navigations).toBe(0);

    // The new instance has its own table, and the rows are the ones the server renders.
    const headings = await page.$$eval("#sessions h2", (hs) => hs.map((h) => h.textContent));
    expect(headings).toEqual(expect.arrayContaining([INSTANCE, NEW_INSTANCE]));
    const other = await page.$$eval("#sessions tbody tr", (trs) =>
      trs
        .map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent))
        .find((cells) => cells[0]?.startsWith("other-")),
    );
    expect(other?.slice(0, 5)).toEqual([OTHER_INSTANCE, "open", HOSTILE_OWNER, "test", "127.0.0.1"]);
    // Markup in a field is text, never an element.
    expect(await page.$("#injected")).toBeNull();
    // Its link opens the session page with the page's token.
    const href = await page.$eval(`#sessions a[href^="/sessions/${OTHER_INSTANCE}"]`, (a) =>
      a.getAttribute("href"),
    );
    expect(href).toBe(`/sessions/${OTHER_INSTANCE}?token=${viewer.token}`);
    // A reload shows the same rows from the server's HTML alone.
    const rendered = await page.$$eval("#sessions tr", (trs) => trs.map((tr) => tr.textContent?.trim()));
    const fresh = await fetch(viewer.url());
    const html = await fresh.text();
    for (const id of [FIRST, SAME_INSTANCE, OTHER_INSTANCE]) expect(html).toContain(`>${id}</a>`);
    expect(rendered.length).toBe((html.match(/<tr>/g) ?? []).length);
    expect(problems).toEqual([]);

    await page.close();
    // The last page gone, the watch stops.
    await pollUntil(() => watchHandles() <= before, { message: "the index watch outlived its last page" });
  });

  it("works without JavaScript: the server's HTML has the rows", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(viewer.url());
      expect(await sessionLinks(page)).toContain(FIRST);
      expect(
        await page.$$eval("#sessions section:first-child thead th", (ths) => ths.map((th) => th.textContent)),
      ).toEqual(["session", "status", "owner", "profile", "host", "last activity", "attach"]);
    } finally {
      await context.close();
    }
  });

  it("refuses the index stream without the token, as it refuses /api/sessions", async () => {
    const bare = await fetch(`${viewer.baseUrl}/api/sessions`);
    const stream = await fetch(`${viewer.baseUrl}/api/sessions/events`);
    expect(bare.status).toBe(401);
    expect(stream.status).toBe(bare.status);
    expect(await stream.json()).toMatchObject({ ok: false, code: "BAD_TOKEN" });
    const wrong = await fetch(`${viewer.baseUrl}/api/sessions/events?token=not-the-token`);
    expect(wrong.status).toBe(401);
    await wrong.body?.cancel();
    // With it: the rows at once, as server-sent events.
    const text = await readStream(`${viewer.baseUrl}/api/sessions/events?token=${viewer.token}`, (t) =>
      t.includes("\n\n"),
    );
    const first = JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? "{}") as {
      sessions?: { session_id: string }[];
    };
    expect(first.sessions?.map((s) => s.session_id)).toContain(FIRST);
  });

  it("closing the viewer ends an open index stream and stops the watch", async () => {
    // A runtime dir of its own: chokidar shares one fs.watch per path between its watchers.
    const runtimeDir = mkdtempSync(join(tmpdir(), "ssh-mcp-index-close-"));
    const before = watchHandles();
    const other = await startViewer({ host: "127.0.0.1", port: "auto", runtimeDir });
    let closed = false;
    try {
      const res = await fetch(`${other.baseUrl}/api/sessions/events?token=${other.token}`);
      expect(res.status).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      expect((await reader.read()).done).toBe(false);
      await pollUntil(() => watchHandles() > before, { message: "the index watch did not start" });
      // Resolves although a client still holds its stream open.
      await other.close();
      closed = true;
      // The server ended the stream: the reader sees its end (or the connection's).
      await pollUntil(async () => (await reader.read().catch(() => ({ done: true }))).done, {
        message: "the stream stayed open after close()",
      });
      await pollUntil(() => watchHandles() <= before, { message: "the index watch outlived close()" });
    } finally {
      if (!closed) await other.close();
      rmSync(runtimeDir, { recursive: true, force: true });
    }
  });
});

describe("TranscriptStore.watchIndex", () => {
  it("tells of a new transcript in a flat directory and of a new instance directory", async () => {
    const root = mkdtempSync(join(tmpdir(), "ssh-mcp-index-watch-"));
    const extra = join(root, "extra");
    mkdirSync(extra);
    const store = new TranscriptStore(root, [extra]);
    let calls = 0;
    const before = watchHandles();
    const unwatch = store.watchIndex(() => calls++);
    try {
      // Watching (instances/ and transcripts/ do not exist yet: from their parent); its first look
      // tells of extra/ itself.
      await pollUntil(() => watchHandles() > before && calls > 0, {
        message: "the index watch did not start",
      });
      const afterFirstLook = calls;
      writeFileSync(join(extra, "flat-1.jsonl"), "");
      await pollUntil(() => calls > afterFirstLook, { message: "a new flat transcript went unnoticed" });
      const afterFlat = calls;
      mkdirSync(join(root, "instances", "new-instance"), { recursive: true });
      await pollUntil(() => calls > afterFlat, { message: "a new instance directory went unnoticed" });
      store.rescan();
      expect([...store.files.keys()]).toEqual(["flat-1"]);
    } finally {
      unwatch();
      unwatch();
      await store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
