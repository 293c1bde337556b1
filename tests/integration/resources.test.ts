import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  McpError,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, startHarness, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";
import { SECRETS } from "../support/secrets-corpus.js";

/**
 * Transcripts and screens as MCP resources (docs/tools.md, "Resources"), read by the SDK's own
 * client over stdio from the built server, against a real sshd.
 */

let h: Harness;
let sid: string;
let transcriptPath: string;
let dir: string;
const updated: string[] = [];
let listChanged = 0;
const TOKEN = SECRETS.find((c) => c.name === "aws-access-key-id") as (typeof SECRETS)[number];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-resources-"));
  // The token is printed by `cat`, never typed.
  writeFileSync(join(dir, "token.txt"), `${TOKEN.text}\n`);
  h = await startHarness();
  h.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updated.push(n.params.uri);
  });
  h.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
    listChanged++;
  });
  const open = await h.call("open_session", { profile: "test" });
  const session = open.session as { session_id: string; transcript_path: string };
  sid = session.session_id;
  transcriptPath = session.transcript_path;
});

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const transcriptUri = (id: string, q = ""): string => `ssh-mcp://sessions/${id}/transcript${q}`;
const screenUri = (id: string, q = ""): string => `ssh-mcp://sessions/${id}/screen${q}`;

interface Page {
  events: Record<string, unknown>[];
  next_offset: number;
  end: boolean;
}

async function readText(uri: string): Promise<{ text: string; mimeType?: string }> {
  const res = await h.client.readResource({ uri });
  expect(res.contents).toHaveLength(1);
  const c = res.contents[0] as { uri: string; text: string; mimeType?: string };
  expect(c.uri).toBe(uri);
  return c;
}

async function readPage(offset: number, limit: number): Promise<Page> {
  const c = await readText(transcriptUri(sid, `?offset=${offset}&limit=${limit}`));
  expect(c.mimeType).toBe("application/json");
  return JSON.parse(c.text) as Page;
}

async function run(command: string): Promise<Record<string, unknown>> {
  const r = await h.call("execute_command", { session_id: sid, command });
  expect(r).toMatchObject({ ok: true, status: "completed", exit_code: 0 });
  return r;
}

describe("resources", () => {
  it("declares resources with subscribe and listChanged", () => {
    expect(h.client.getServerCapabilities()?.resources).toEqual({ subscribe: true, listChanged: true });
  });

  it("lists a transcript and a screen for every open session, and both templates", async () => {
    const { resources } = await h.client.listResources();
    const mine = resources.filter((r) => r.uri.startsWith(`ssh-mcp://sessions/${sid}/`));
    expect(mine.map((r) => [r.uri, r.mimeType]).sort()).toEqual([
      [screenUri(sid), "text/plain"],
      [transcriptUri(sid), "application/json"],
    ]);
    for (const r of mine) {
      expect(r.name).toBeTruthy();
      expect(r.title).toContain(sid);
    }
    const { resourceTemplates } = await h.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
      "ssh-mcp://sessions/{session_id}/screen{?lines}",
      "ssh-mcp://sessions/{session_id}/transcript{?offset,limit}",
    ]);
  });

  it("links the session's resources in execute_command's result, after the unchanged text item", async () => {
    const res = await h.client.callTool({
      name: "execute_command",
      arguments: { session_id: sid, command: "echo linked" },
    });
    const content = res.content as { type: string; text?: string; uri?: string; mimeType?: string }[];
    expect(content[0]).toEqual({ type: "text", text: JSON.stringify(res.structuredContent) });
    expect(content.slice(1)).toEqual([
      expect.objectContaining({
        type: "resource_link",
        uri: transcriptUri(sid),
        mimeType: "application/json",
      }),
      expect.objectContaining({ type: "resource_link", uri: screenUri(sid), mimeType: "text/plain" }),
    ]);
    const screen = await h.client.callTool({ name: "get_screen", arguments: { session_id: sid } });
    expect((screen.content as { type: string }[]).map((c) => c.type)).toEqual([
      "text",
      "resource_link",
      "resource_link",
    ]);
  });

  it("pages the transcript by byte offset with no gap or overlap", async () => {
    for (let i = 0; i < 5; i++) await run(`echo page-line-${i}`);
    const events: Record<string, unknown>[] = [];
    let offset = 0;
    let pages = 0;
    for (;;) {
      const page = await readPage(offset, 7);
      expect(page.events.length).toBeLessThanOrEqual(7);
      events.push(...page.events);
      pages++;
      if (page.end) {
        offset = page.next_offset;
        break;
      }
      expect(page.next_offset).toBeGreaterThan(offset);
      offset = page.next_offset;
    }
    expect(pages).toBeGreaterThan(2);
    // The file up to the last page's end, parsed line by line, is exactly what the pages held.
    const file = readFileSync(transcriptPath).subarray(0, offset).toString("utf8");
    const expected = file
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toEqual(expected);
    expect(JSON.stringify(events)).toContain("page-line-4");
  });

  it("refuses an offset that is not a line start, and the server keeps serving", async () => {
    const err = await h.client
      .readResource({ uri: transcriptUri(sid, "?offset=1") })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).message).toMatch(/not the start of a transcript line.*next_offset/);
    expect((err as McpError).data).toEqual({ code: "INVALID_ARGUMENT" });
    const big = await h.client
      .readResource({ uri: transcriptUri(sid, "?limit=5001") })
      .catch((e: unknown) => e);
    expect((big as McpError).message).toContain("'limit' must be a whole number from 1 to 5000");
    const other = await h.client.readResource({ uri: screenUri(sid, "?offset=0") }).catch((e: unknown) => e);
    expect((other as McpError).message).toContain("takes no parameter 'offset'");
    expect((await readPage(0, 1)).events).toHaveLength(1);
  });

  it("reads the screen with a command's output, and masks a printed token", async () => {
    await run("echo screen-says-hello");
    await run(`cat '${join(dir, "token.txt")}'`);
    const c = await readText(screenUri(sid, "?lines=50"));
    expect(c.mimeType).toBe("text/plain");
    expect(c.text).toContain("screen-says-hello");
    expect(c.text).toContain("Using credentials");
    expect(c.text).not.toContain(TOKEN.secret);
    const page = await readPage(0, 5000);
    expect(JSON.stringify(page.events)).not.toContain(TOKEN.secret);
  });

  it("answers an unknown session with resource-not-found and what to do, then keeps serving", async () => {
    const err = await h.client.readResource({ uri: screenUri("no-such-session") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(-32002);
    expect((err as McpError).message).toContain("list_sessions");
    expect((err as McpError).data).toEqual({ code: "UNKNOWN_SESSION" });
    const sub = await h.client
      .subscribeResource({ uri: transcriptUri("no-such-session") })
      .catch((e: unknown) => e);
    expect((sub as McpError).data).toEqual({ code: "UNKNOWN_SESSION" });
    const bad = await h.client
      .readResource({ uri: `ssh-mcp://sessions/${sid}/nothing` })
      .catch((e: unknown) => e);
    expect((bad as McpError).data).toEqual({ code: "INVALID_ARGUMENT" });
    expect(await h.call("get_screen", { session_id: sid })).toMatchObject({ ok: true });
  });

  it("notifies a subscribed URI when output comes, and stops after unsubscribe", async () => {
    const uri = transcriptUri(sid);
    const screen = screenUri(sid);
    await h.client.subscribeResource({ uri });
    await h.client.subscribeResource({ uri: screen });
    updated.length = 0;
    await run("echo notify-me");
    await pollUntil(() => updated.includes(uri) && updated.includes(screen), {
      message: "no resources/updated after output",
    });
    await h.client.unsubscribeResource({ uri });
    await h.client.unsubscribeResource({ uri: screen });
    // One stdout stream: an update sent before the unsubscribe was answered has arrived by now.
    updated.length = 0;
    await run("echo after-unsubscribe; seq 1 200");
    // A control subscription on the screen proves updates still flow while the others are silent.
    const other = await h.call("open_session", { profile: "test" });
    const otherId = (other.session as { session_id: string }).session_id;
    await h.client.subscribeResource({ uri: screenUri(otherId) });
    await h.call("execute_command", { session_id: otherId, command: "echo control" });
    await pollUntil(() => updated.includes(screenUri(otherId)), { message: "control update missing" });
    expect(updated.filter((u) => u === uri || u === screen)).toEqual([]);
    await h.call("close_session", { session_id: otherId });
  });

  it("coalesces updates: at most one per URI per half second, however many chunks come", async () => {
    const uri = screenUri(sid);
    await h.client.subscribeResource({ uri });
    updated.length = 0;
    const started = Date.now();
    // 40 lines printed one by one: 40 chunks of output, each a change of the screen.
    await run("for i in $(seq 1 40); do echo tick-$i; sleep 0.05; done");
    await h.client.unsubscribeResource({ uri });
    const elapsed = Date.now() - started;
    const count = updated.filter((u) => u === uri).length;
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 1);
    expect(count).toBeLessThan(40);
  });

  it("sends list_changed when a session opens and when it closes", async () => {
    const before = listChanged;
    const open = await h.call("open_session", { profile: "test" });
    const id = (open.session as { session_id: string }).session_id;
    await pollUntil(() => listChanged > before, { message: "no list_changed on open" });
    const listed = (await h.client.listResources()).resources.map((r) => r.uri);
    expect(listed).toContain(transcriptUri(id));
    const afterOpen = listChanged;
    await h.call("close_session", { session_id: id });
    await pollUntil(() => listChanged > afterOpen, { message: "no list_changed on close" });
    const after = (await h.client.listResources()).resources.map((r) => r.uri);
    expect(after).not.toContain(transcriptUri(id));
    expect(after).toContain(transcriptUri(sid));
    // reopen_session links the new session's resources, not the old one's.
    const res = await h.client.callTool({ name: "reopen_session", arguments: { session_id: id } });
    const next = (res.structuredContent as { session: { session_id: string } }).session.session_id;
    expect(next).not.toBe(id);
    expect((res.content as { uri?: string }[]).slice(1).map((c) => c.uri)).toEqual([
      transcriptUri(next),
      screenUri(next),
    ]);
    await h.call("close_session", { session_id: next });
  });

  it("reads and follows a session of another live server without taking it", async () => {
    const other = await connectClient(h.env);
    const seen: string[] = [];
    other.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      seen.push(n.params.uri);
    });
    try {
      const listed = (await other.listResources()).resources.map((r) => r.uri);
      expect(listed).toContain(screenUri(sid));
      await run("echo seen-from-elsewhere");
      const screen = await other.readResource({ uri: screenUri(sid) });
      expect((screen.contents[0] as { text: string }).text).toContain("seen-from-elsewhere");
      const page = await other.readResource({ uri: transcriptUri(sid, "?limit=5000") });
      expect((page.contents[0] as { text: string }).text).toContain("seen-from-elsewhere");
      await other.subscribeResource({ uri: transcriptUri(sid) });
      await run("echo followed-from-elsewhere");
      await pollUntil(() => seen.includes(transcriptUri(sid)), { message: "no update on the other server" });
    } finally {
      await other.close();
    }
    // Still ours: driven without force.
    await run("echo still-mine");
  });
});
