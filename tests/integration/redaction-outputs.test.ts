import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECRETS } from "../support/secrets-corpus.js";
import { readStream } from "../support/browser.js";
import { baseProfile, startHarness, type Harness } from "../support/harness.js";

/**
 * The redaction corpus, printed by a real remote, checked on every way text leaves the server:
 * the tool result, get_screen, get_transcript, the transcript file, the viewer's history and its
 * live mode. The secrets are never typed: a file holds them and `cat` prints them.
 */

let h: Harness;
let dir: string;
const SGR = (word: string): string => `\x1b[01;31m\x1b[K${word}\x1b[m\x1b[K`;
/** A value printed half a second after its key, on the same line. */
const LATE = "hunter2late9x";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-corpus-"));
  const lines: string[] = [];
  for (const c of SECRETS) {
    lines.push(c.text);
    // grep --color wraps the key word in colour codes.
    if (c.key && c.text.includes(c.key)) lines.push(c.text.replace(c.key, SGR(c.key)));
  }
  writeFileSync(join(dir, "corpus.txt"), lines.join("\n") + "\n");
  h = await startHarness({ profiles: (sshd) => ({ test: baseProfile(sshd) }) });
});

afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

function leaked(text: string): string[] {
  const found = SECRETS.filter((c) => text.includes(c.secret)).map((c) => c.name);
  if (text.includes(LATE)) found.push("late value");
  return found;
}

describe("the redaction corpus on all six outputs", () => {
  it("no secret of the corpus, nor a late value, leaves the server", async () => {
    const open = await h.call("open_session", { profile: "test" });
    const s = open.session as { session_id: string; transcript_path: string; viewer_url: string };
    const sid = s.session_id;
    const r = await h.call("execute_command", { session_id: sid, command: `cat ${join(dir, "corpus.txt")}` });
    expect(r).toMatchObject({ ok: true, exit_code: 0 });
    expect(String(r.output)).toContain("[REDACTED");
    const late = await h.call("execute_command", {
      session_id: sid,
      command: "printf 'db_pass''word='; sleep 0.5; printf '%s%s\\n' hunter2 late9x",
    });
    expect(late).toMatchObject({ ok: true, exit_code: 0 });

    const outputs: Record<string, string> = {
      result: String(r.output) + String(late.output),
      get_screen: String((await h.call("get_screen", { session_id: sid, lines: 400 })).screen),
      get_transcript: JSON.stringify(await h.call("get_transcript", { session_id: sid, tail: 1000 })),
      transcript: readFileSync(s.transcript_path, "utf8"),
    };
    // The viewer, with the URL the agent was given (it reads).
    const u = new URL(s.viewer_url);
    const token = u.searchParams.get("token") ?? "";
    const api = `${u.origin}/api/sessions/${sid}`;
    outputs.viewer_history = await (await fetch(`${api}/events?after_line=0&token=${token}`)).text();
    outputs.viewer_live = await readStream(`${api}/live?token=${token}`, (t) => t.includes("event: frame"));
    expect(outputs.viewer_live).toContain("event: frame");
    // Each output did carry the text around the secrets (so the check could fail).
    for (const [name, text] of Object.entries(outputs)) {
      expect(text, name).toMatch(/REDACTED/);
      expect(leaked(text), name).toEqual([]);
    }
  });

  it("a full-screen program's bottom line, reported as what a running command waits on, is redacted", async () => {
    const open = await h.call("open_session", { profile: "test" });
    const sid = (open.session as { session_id: string }).session_id;
    // less shows its own prompt (-P) on the bottom line: here a key and its value.
    const r = await h.call("execute_command", {
      session_id: sid,
      command: `less -Ps'api_key=${LATE} ' ${join(dir, "corpus.txt")}`,
      timeout: 2,
    });
    expect(r).toMatchObject({ ok: true, status: "running", state: "awaiting_input" });
    expect(String(r.prompt)).toMatch(/api_key=\[REDACTED/);
    // Everything but the command the agent typed itself.
    expect(leaked(JSON.stringify({ ...r, command: "" }))).toEqual([]);
    await h.call("send_keys", { session_id: sid, keys: ["q"] });
    await h.call("close_session", { session_id: sid });
  });
});
