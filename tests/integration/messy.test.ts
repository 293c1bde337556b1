import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cmdlinesContaining, startHarness, type Cmd, type Harness } from "../support/harness.js";

/** Commands and terminals that break naive designs: each must come back exact and leave the session usable. */

let h: Harness;
let sid: string;

const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
  (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

beforeAll(async () => {
  h = await startHarness();
  sid = ((await h.call("open_session", { profile: "test" })).session as { session_id: string }).session_id;
});

afterAll(async () => {
  await h?.close();
});

describe("bash", () => {
  it("history expansion characters are plain text", async () => {
    expect(await exec("echo \"hi!x\" 'a!b'")).toMatchObject({ exit_code: 0, output: "hi!x a!b\n" });
  });

  it("a syntax error completes with status 2 and the session stays usable", async () => {
    const r = await exec("echo a |");
    expect(r).toMatchObject({ status: "completed", exit_code: 2, completion: "marker" });
    expect(r.output).toMatch(/syntax error/);
    expect(await exec('echo "unbalanced')).toMatchObject({ status: "completed", exit_code: 2 });
    expect(await exec("echo }")).toMatchObject({ exit_code: 0, output: "}\n" });
    expect(await exec("echo next")).toMatchObject({ exit_code: 0, output: "next\n" });
  });

  it("a literal TAB is not taken for completion", async () => {
    expect(await exec("printf 'a\tb\\n'")).toMatchObject({ exit_code: 0, output: "a\tb\n" });
  });

  it("a 5000-character command line arrives whole", async () => {
    const x = "y".repeat(5000);
    expect(await exec(`printf %s '${x}' | wc -c`)).toMatchObject({
      exit_code: 0,
      output: expect.stringMatching(/^\s*5000\n$/),
    });
  });

  it("a program reading input is never typed into: SCREEN_BUSY, nothing sent", async () => {
    await h.call("send_text", { session_id: sid, text: "cat", timeout: 1 });
    const before = await h.call("get_screen", { session_id: sid, lines: 5 });
    const r = await exec("echo into-cat", { timeout: 20 });
    expect(r).toMatchObject({ ok: false, code: "SCREEN_BUSY" });
    expect((await h.call("get_screen", { session_id: sid, lines: 5 })).screen).toBe(before.screen);
    await h.call("send_keys", { session_id: sid, keys: ["C-d"] });
    expect(await exec("echo back")).toMatchObject({ exit_code: 0, output: "back\n" });
  });
});

describe("dash (Debian /bin/sh, as in many pods)", () => {
  it("runs exact commands in a cooked-mode shell", async () => {
    await h.call("send_text", { session_id: sid, text: "env PS1='$ ' dash", timeout: 2 });
    expect(await exec("echo $0")).toMatchObject({ output: "dash\n" });
    expect(await exec("false")).toMatchObject({ exit_code: 1 });
    const x = "z".repeat(5000);
    expect(await exec(`printf %s '${x}' | wc -c`)).toMatchObject({
      output: expect.stringMatching(/^\s*5000\n$/),
    });
    expect(await exec("printf 'c\td\\n'")).toMatchObject({ output: "c\td\n" });
    expect(await exec("echo a |")).toMatchObject({ status: "completed", exit_code: 2 });
    expect(await exec("cd /tmp; pwd")).toMatchObject({ output: "/tmp\n" });
    await h.call("send_text", { session_id: sid, text: "exit", timeout: 2 });
    expect(await exec("echo $BASH_VERSION | cut -c1")).toMatchObject({ output: "5\n" });
  });
});

describe("zsh and busybox sh", () => {
  for (const [name, start, check] of [
    ["zsh", "env PS1='%# ' zsh -f", "echo $ZSH_NAME"],
    ["busybox sh", "env PS1='/ # ' busybox sh", "busybox | head -1 | cut -d' ' -f1"],
  ] as const) {
    it(`${name}: exact output, exit codes, syntax errors`, async () => {
      await h.call("send_text", { session_id: sid, text: start, timeout: 2 });
      expect((await exec(check)).output).toMatch(/^(zsh|BusyBox)\n$/);
      expect(await exec("printf 'q\tr!\\n'; false")).toMatchObject({ exit_code: 1, output: "q\tr!\n" });
      const bad = await exec("echo a |");
      expect(bad.status).toBe("completed");
      expect(bad.exit_code).not.toBe(0);
      expect(await exec("echo still-here")).toMatchObject({ exit_code: 0, output: "still-here\n" });
      await h.call("send_text", { session_id: sid, text: "exit", timeout: 2 });
      expect(await exec("echo $BASH_VERSION | cut -c1")).toMatchObject({ output: "5\n" });
    });
  }
});

describe("send_text wait_for", () => {
  it("does not match the echo of the typed text", async () => {
    const r = await h.call("send_text", {
      session_id: sid,
      text: "sleep 0.5; echo DONE-X",
      wait_for: "DONE-X",
      timeout: 10,
    });
    expect(r).toMatchObject({ matched: "DONE-X", timed_out: false });
    // The echo and the real output: two occurrences, so the match was the program's.
    expect((r.output as string).split("DONE-X").length - 1).toBeGreaterThanOrEqual(2);
  });
});

describe("reply size", () => {
  it("quote-heavy output larger than one reply is paged, never dropped", async () => {
    const r = await exec("head -c 3000000 /dev/zero | tr '\\0' '\"'; echo", { timeout: 60 });
    expect(r.status).toBe("completed");
    let offset: number | null = 0;
    let all = "";
    let pages = 0;
    while (offset !== null) {
      const g = await h.call("get_command", {
        session_id: sid,
        command_id: r.command_id,
        output_offset: offset,
      });
      expect(g.ok).toBe(true);
      all += (g.command as Cmd).output;
      offset = g.next_offset as number | null;
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(all).toBe('"'.repeat(3_000_000) + "\n");
    const t = await h.call("get_transcript", { session_id: sid, tail: 10_000 });
    expect(t.ok).toBe(true);
    expect(t.truncated).toBe(true);
  });
});

describe("secrets", () => {
  it("a sensitive send never appears on any process command line", async () => {
    const secret = "pw-" + Math.random().toString(36).slice(2);
    await h.call("send_text", {
      session_id: sid,
      text: "read -s SECRET_IN; echo got-${#SECRET_IN}",
      timeout: 1,
    });
    let r: Record<string, unknown> = {};
    const seen = await cmdlinesContaining(secret, async () => {
      r = await h.call("send_text", {
        session_id: sid,
        text: secret,
        sensitive: true,
        wait_for: "got-",
        timeout: 10,
      });
    });
    expect(r.matched).toBe("got-");
    expect(seen).toEqual([]);
  });
});
