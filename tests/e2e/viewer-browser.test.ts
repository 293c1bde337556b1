import { copyFileSync, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchBrowser } from "../support/browser.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../support/harness.js";

/** A real browser (Debian's chromium) on the viewer of a real server, driven through MCP. */

let h: Harness;
let browser: Browser;
let sid: string;
let viewerUrl: string;

beforeAll(async () => {
  h = await startHarness();
  const open = await h.call("open_session", { profile: "test", owner_label: "browser" });
  const session = open.session as { session_id: string; viewer_url: string };
  sid = session.session_id;
  viewerUrl = session.viewer_url;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/**
 * A page that records what its Content-Security-Policy blocked: the pages keep no inline script
 * (the browser would refuse it), so a violation means something the page needs did not run.
 */
async function watchedPage(): Promise<{ page: Page; violations: string[] }> {
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));
  return { page, violations };
}

/** A fake private key the pane prints: its body must not reach the page in live mode. */
const KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";

describe("viewer in a browser", () => {
  it("open_session's viewer_url carries a token and the page renders the terminal", async () => {
    expect(viewerUrl).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:\\d+/sessions/${sid}\\?token=[\\w-]{20,}$`),
    );
    const { page, violations } = await watchedPage();
    const response = await page.goto(viewerUrl);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await h.call("execute_command", {
      session_id: sid,
      command: "printf '\\033[32mbrowser-sees-this\\033[0m\\n'",
    });
    await page.waitForFunction(
      () => document.querySelector(".xterm-rows")?.textContent?.includes("browser-sees-this"),
      undefined,
      {
        timeout: 15_000,
      },
    );
    // Each command is a block apart from the terminal: the command as asked (not the line that
    // carried it), its output without colours or marks, its exit status, its actor and shell.
    await h.call("execute_command", { session_id: sid, command: "echo block-out; false" });
    await page.waitForFunction(
      () => [...document.querySelectorAll("#sends .cmd.fail")].some((b) => b.textContent?.includes("exit 1")),
      undefined,
      { timeout: 15_000 },
    );
    const blocks = await page.$$eval("#sends .cmd", (els) =>
      els.map((e) => ({
        line: e.querySelector(".line")?.textContent,
        out: e.querySelector(".out")?.textContent,
        st: e.querySelector(".st")?.textContent,
        who: e.querySelector(".badge")?.textContent,
        tool: e.querySelector(".tool")?.textContent,
      })),
    );
    expect(blocks).toContainEqual({
      line: "$ printf '\\033[32mbrowser-sees-this\\033[0m\\n'",
      out: "browser-sees-this\n",
      st: "exit 0",
      who: "agent",
      tool: "execute_command in bash",
    });
    expect(blocks).toContainEqual(
      expect.objectContaining({ line: "$ echo block-out; false", out: "block-out\n", st: "exit 1" }),
    );
    // The line that carried the command is not shown as the command.
    expect(JSON.stringify(blocks)).not.toContain("__mcp_b");
    const shot = join(h.dir, "viewer.png");
    await page.screenshot({ path: shot });
    expect(existsSync(shot) && statSync(shot).size).toBeGreaterThan(1000);
    if (process.env.SSH_MCP_KEEP_SCREENSHOT) copyFileSync(shot, process.env.SSH_MCP_KEEP_SCREENSHOT);
    // Without the token the same page is refused.
    const bare = await page.goto(viewerUrl.replace(/\?token=.*$/, ""));
    expect(bare?.status()).toBe(401);
    expect(violations).toEqual([]);
    await page.close();
  });

  it("live mode mirrors the tmux pane; typing needs the input lock and is recorded as human", async () => {
    const { page, violations } = await watchedPage();
    // The human's page: the operator's URL (the agent's viewer_url reads only).
    const instance = (
      (await h.call("list_sessions")).sessions as { session_id: string; server_instance_id: string }[]
    ).find((x) => x.session_id === sid)?.server_instance_id as string;
    const operator = readFileSync(
      join(h.runtimeDir, "instances", instance, "viewer_operator_token"),
      "utf8",
    ).trim();
    await page.goto(`${viewerUrl.replace(/token=[^&]+/, `token=${operator}`)}&live=1`);
    await h.call("execute_command", { session_id: sid, command: "echo live-pane-line" });
    await page.waitForFunction(
      () => document.querySelector(".xterm-rows")?.textContent?.includes("live-pane-line"),
      undefined,
      {
        timeout: 15_000,
      },
    );
    // The profile redacts (the default): a private key printed in the pane shows as masked.
    await h.call("execute_command", {
      session_id: sid,
      command: `printf '%s\\n' '-----BEGIN OPENSSH PRIVATE KEY-----' '${KEY_BODY}' '-----END OPENSSH PRIVATE KEY-----' after-key`,
    });
    await page.waitForFunction(
      () =>
        /^after-key/m.test(
          [...document.querySelectorAll(".xterm-rows > div")].map((r) => r.textContent).join("\n"),
        ),
      undefined,
      { timeout: 15_000 },
    );
    const rows = await page.$eval(".xterm-rows", (e) => e.textContent ?? "");
    expect(rows).toContain("-----BEGIN OPENSSH PRIVATE KEY-----");
    expect(rows).not.toContain(KEY_BODY);
    await page.click("#lock");
    await page.waitForFunction(
      () => document.querySelector("#lock")?.textContent?.includes("release"),
      undefined,
      {
        timeout: 10_000,
      },
    );
    await page.click("#term");
    await page.keyboard.type("echo typed-by-human");
    await page.keyboard.press("Enter");
    await page.waitForFunction(
      () => document.querySelector(".xterm-rows")?.textContent?.includes("typed-by-human"),
      undefined,
      {
        timeout: 15_000,
      },
    );
    // While the human holds the lock, the agent is refused.
    const refused = await h.call("execute_command", { session_id: sid, command: "true" });
    expect(refused).toMatchObject({ ok: false, code: "INPUT_LOCKED" });
    await page.click("#lock");
    await page.waitForFunction(
      () => document.querySelector("#lock")?.textContent?.includes("take"),
      undefined,
      {
        timeout: 10_000,
      },
    );
    const t = await h.call("get_transcript", { session_id: sid, tail: 500 });
    const human = (t.events as { dir: string; actor?: string; text?: string }[]).filter(
      (e) => e.dir === "send" && e.actor === "human",
    );
    expect(human.map((e) => e.text).join("")).toContain("echo typed-by-human");
    expect(readFileSync(t.transcript_path as string, "utf8")).toContain('"action":"acquire","actor":"human"');
    expect(await h.call("execute_command", { session_id: sid, command: "echo agent-again" })).toMatchObject({
      output: "agent-again\n",
    });
    expect(violations).toEqual([]);
    await page.close();
  });
});
