import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { baseProfile, startHarness, type Cmd, type Harness } from "../support/harness.js";

/**
 * Truthful results in every shell family: real login shells over a real sshd (each logs in with
 * a key whose authorized_keys entry runs that shell as a login shell), the same matrix for each.
 * Plus screens that are not a prompt (pagers, editors, questions) and nested shells.
 */

const SHELLS = [
  { name: "bash", start: "exec bash -l", notFound: 127, syntaxError: "echo a |" },
  { name: "dash", start: "exec dash -l", notFound: 127, syntaxError: "echo a |" },
  { name: "zsh", start: "exec zsh -l", notFound: 127, syntaxError: "echo a |" },
  { name: "mksh", start: "exec mksh -l", notFound: 127, syntaxError: "echo a |" },
  { name: "ash", start: "exec busybox sh -l", notFound: 127, syntaxError: "echo a |" },
  { name: "ksh", start: "exec ksh93 -l", notFound: 127, syntaxError: "echo a |" },
  { name: "fish", start: "exec fish -l", notFound: 127, syntaxError: "echo (" },
  // tcsh's own status for a missing command is 1.
  { name: "tcsh", start: "exec tcsh -l", notFound: 1, syntaxError: 'echo "unbalanced' },
] as const;

/** Lines each family reads its own way. */
const OWN: Record<string, [string, string][]> = {
  tcsh: [
    ["if (1 != 2) echo yes", "yes\n"],
    ["set a=1; if ($a !~ 2) echo nomatch", "nomatch\n"],
    ["echo a\\!b", "a!b\n"],
  ],
  fish: [["set -l n 0; for i in 1 2 3; set n (math $n + $i); end; echo $n", "6\n"]],
};

let h: Harness;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => ({ test: baseProfile(sshd) }),
  });
  const profiles: Record<string, Record<string, unknown>> = { test: baseProfile(h.sshd) };
  for (const s of SHELLS) {
    keys[s.name] = await h.sshd.keyForCommand(s.start);
    profiles[s.name] = baseProfile(h.sshd, { key_filename: keys[s.name] });
  }
  // zsh's first-run wizard shows for a user with no zsh startup files (never for root): an empty
  // HOME, and as root the login drops to nobody first.
  const zshHome = mkdtempSync(join(tmpdir(), "ssh-mcp-zsh-home-"));
  chmodSync(zshHome, 0o777);
  const asUser = process.getuid?.() === 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  profiles.zshnew = baseProfile(h.sshd, {
    key_filename: await h.sshd.keyForCommand(
      `exec ${asUser}env -i HOME=${zshHome} TERM=$TERM PATH=/usr/bin:/bin zsh -l`,
    ),
  });
  writeFileSync(h.configPath, JSON.stringify({ profiles }, null, 2));
  await h.restartClient();
}, 120_000);

afterAll(async () => {
  await h?.close();
});

async function open(profile: string): Promise<string> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  return (r.session as { session_id: string }).session_id;
}

describe.each(SHELLS)("$name", (shell) => {
  let sid: string;
  const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
    (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

  beforeAll(async () => {
    sid = await open(shell.name);
  });

  it("is detected at open_session and reported", async () => {
    const list = await h.call("list_sessions");
    const row = (list.sessions as { session_id: string; shell: { name: string } }[]).find(
      (s) => s.session_id === sid,
    );
    expect(row?.shell.name).toBe(shell.name);
    expect((await h.call("get_screen", { session_id: sid })).shell).toBe(shell.name);
  });

  it("exact output and exit codes 0, 1, 2 and command-not-found", async () => {
    expect(await exec("echo hello")).toMatchObject({
      status: "completed",
      completion: "marker",
      exit_code: 0,
      output: "hello\n",
      shell: shell.name,
    });
    expect(await exec("false")).toMatchObject({ exit_code: 1, output: "" });
    expect(await exec("sh -c 'exit 2'")).toMatchObject({ exit_code: 2 });
    const nf = await exec("no-such-command-xyz");
    expect(nf).toMatchObject({ status: "completed", exit_code: shell.notFound });
    expect(nf.output).toMatch(/no-such-command-xyz/);
    expect(await exec("printf no-newline")).toMatchObject({ exit_code: 0, output: "no-newline" });
  });

  it("its own syntax works", async () => {
    for (const [command, output] of OWN[shell.name] ?? [["echo $?", "0\n"]])
      expect(await exec(command)).toMatchObject({ exit_code: 0, output });
  });

  it("keeps cd between commands", async () => {
    expect(await exec("cd /tmp")).toMatchObject({ exit_code: 0 });
    expect(await exec("pwd")).toMatchObject({ output: "/tmp\n" });
  });

  it("quotes ' \" ! $ and TAB exactly", async () => {
    expect(await exec(`echo "it's" 'a"b' 'x!y' '$HOME'`)).toMatchObject({
      exit_code: 0,
      output: `it's a"b x!y $HOME\n`,
    });
    expect(await exec("echo 'a\tb'")).toMatchObject({ exit_code: 0, output: "a\tb\n" });
  });

  it("a syntax error fails with the shell's error and leaves the shell usable", async () => {
    const r = await exec(shell.syntaxError);
    expect(r.status).toBe("completed");
    expect(r.exit_code).not.toBe(0);
    expect(r.exit_code).not.toBeNull();
    expect(await exec("echo still-here")).toMatchObject({ exit_code: 0, output: "still-here\n" });
  });

  it("search_logs finds matches in this shell too", async () => {
    const dir = `/tmp/ssh-mcp-sl-${shell.name}-${process.pid}`;
    expect(
      await exec(`mkdir -p ${dir}; printf 'a timeout\\nb ok\\nc a.b\\n' > ${dir}/app.log`),
    ).toMatchObject({
      exit_code: 0,
    });
    const r = await h.call("search_logs", { session_id: sid, pattern: "time(out)?|a\\.b", path: dir });
    expect(r).toMatchObject({ ok: true });
    expect((r.matches as { line: number }[]).map((m) => m.line)).toEqual([1, 3]);
    await exec(`rm -r ${dir}`);
  });

  it("long commands arrive whole (busybox ash edits lines of 1024 bytes at most)", async () => {
    for (const n of [990, 5000]) {
      const r = await exec(`printf %s '${"y".repeat(n)}' | wc -c`);
      expect(r).toMatchObject({ exit_code: 0 });
      expect(r.output.trim()).toBe(String(n));
    }
  });

  it("returns 2000 lines of output whole", async () => {
    const r = await exec("seq 1 2000");
    expect(r).toMatchObject({ exit_code: 0 });
    expect(r.output.split("\n").slice(0, -1)).toEqual(Array.from({ length: 2000 }, (_, i) => String(i + 1)));
  });
});

describe("ready means ready", () => {
  it("zsh's first-run wizard is dismissed without changing anything, then the shell is probed", async () => {
    const sid = await open("zshnew");
    const screen = (await h.call("get_screen", { session_id: sid, lines: 40 })) as unknown as {
      screen: string;
      shell: string;
    };
    expect(screen.shell).toBe("zsh");
    expect(screen.screen.trimEnd().split("\n").pop()).not.toMatch(/Type one of the keys/);
    const t = await h.call("get_transcript", { session_id: sid, tail: 100 });
    const events = t.events as { event?: string; name?: string }[];
    expect(events.some((e) => e.event === "first_run_wizard" && e.name === "zsh-newuser-install")).toBe(true);
    const r = (await h.call("execute_command", {
      session_id: sid,
      command: "echo ok; ls -A ~ | wc -l",
    })) as unknown as Cmd;
    // "q" quits and does nothing: no ~/.zshrc was written.
    expect(r).toMatchObject({ exit_code: 0, output: "ok\n0\n", shell: "zsh" });
  });
});

describe("nested shells", () => {
  let sid: string;
  const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
    (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

  beforeAll(async () => {
    sid = await open("bash");
  });

  it("bash -> fish -> bash: each command gets the right wrapper", async () => {
    const into = await exec("fish", { timeout: 15 });
    expect(into).toMatchObject({ status: "completed", completion: "prompt", exit_code: null, shell: "fish" });
    expect(await exec("echo $status; false")).toMatchObject({ exit_code: 1, output: "0\n", shell: "fish" });
    expect(await exec("set x 5; echo $x")).toMatchObject({ exit_code: 0, output: "5\n" });
    const back = await exec("exit", { timeout: 15 });
    expect(back).toMatchObject({ completion: "prompt", shell: "bash" });
    expect(await exec("echo $BASH_VERSION | cut -c1")).toMatchObject({ exit_code: 0, output: "5\n" });
  });

  it("a shell entered with send_text is found by the next command (helpers missing, probed, retried)", async () => {
    await h.call("send_text", { session_id: sid, text: "exec tcsh", timeout: 2 });
    const r = await exec("echo $shell");
    expect(r).toMatchObject({ status: "completed", exit_code: 0, shell: "tcsh" });
    expect(r.output).toMatch(/\/tcsh\n$/);
    const t = await h.call("get_transcript", { session_id: sid, tail: 40 });
    const events = t.events as { dir: string; event?: string; name?: string }[];
    expect(events.some((e) => e.event === "shell" && e.name === "tcsh")).toBe(true);
  });
});

describe("never twice, never untracked", () => {
  let sid: string;
  const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
    (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;

  beforeAll(async () => {
    sid = await open("bash");
  });

  it("a slow prompt (PROMPT_COMMAND) is waited for: each command runs exactly once", async () => {
    const file = `/tmp/ssh-mcp-once-${process.pid}`;
    expect(await exec(`rm -f ${file}; PROMPT_COMMAND='sleep 1.2'`)).toMatchObject({ exit_code: 0 });
    // The command's own words look like a shell's "not found": still not taken for NOT_STARTED.
    for (let i = 1; i <= 3; i++) {
      const r = await exec(`echo "No such thing: not found; __mcp_b: not found" >> ${file}; wc -l < ${file}`);
      expect(r).toMatchObject({ status: "completed", exit_code: 0 });
      expect(r.output.trim()).toBe(String(i));
    }
    expect(await exec(`unset PROMPT_COMMAND; rm -f ${file}`)).toMatchObject({ exit_code: 0 });
  });

  it("two execute_command calls at once: one runs, the other is refused, none runs twice", async () => {
    const file = `/tmp/ssh-mcp-race-${process.pid}`;
    await exec(`rm -f ${file}`);
    const [a, b] = await Promise.all([
      exec(`echo A >> ${file}; sleep 0.3`),
      exec(`echo B >> ${file}; sleep 0.3`),
    ]);
    const results = [a, b] as unknown as Record<string, unknown>[];
    expect(results.filter((r) => r.ok === true)).toHaveLength(1);
    expect(results.filter((r) => r.code === "COMMAND_RUNNING")).toHaveLength(1);
    expect((await exec(`wc -l < ${file}; rm -f ${file}`)).output.trim()).toBe("1");
  });

  it("a prompt-shaped question from a program (read -p) is not typed into, nor probed", async () => {
    await h.call("send_text", {
      session_id: sid,
      text: 'read -p "Target dir > " d; echo "got [$d]"',
      timeout: 1,
    });
    const before = (await h.call("get_screen", { session_id: sid })).screen;
    expect(await exec("echo hi")).toMatchObject({ ok: false, code: "SCREEN_BUSY" });
    expect((await h.call("get_screen", { session_id: sid })).screen).toBe(before);
    await h.call("send_text", { session_id: sid, text: "x", wait_for: "got [x]", timeout: 5 });
    // Run as a command, the same question keeps it running; nothing is typed into it.
    const r = await exec(`bash -c 'read -p "Target dir > " d; echo "got [$d]"'`, { timeout: 2 });
    expect(r).toMatchObject({ status: "running", timed_out: true });
    await h.call("send_text", {
      session_id: sid,
      text: "y",
      wait_for: "got \\[y\\]",
      regex: true,
      timeout: 5,
    });
    // Its end mark may come a moment after the line wait_for saw.
    const done = await pollUntil(async () => {
      const g = await h.call("get_command", { session_id: sid, command_id: r.command_id });
      return (g.command as Cmd).status === "running" ? undefined : g;
    });
    expect(done.command).toMatchObject({
      status: "completed",
      exit_code: 0,
      output: "Target dir > y\ngot [y]\n",
    });
  });

  it("a bare '> ' prompt of the shell itself still runs commands", async () => {
    expect(await exec("PS1='> '")).toMatchObject({ exit_code: 0 });
    expect(await exec("echo one")).toMatchObject({ exit_code: 0, output: "one\n" });
    expect(await exec("echo two")).toMatchObject({ exit_code: 0, output: "two\n" });
    expect(await exec("PS1='$ '")).toMatchObject({ exit_code: 0 });
  });

  it("a progress line from a command that may enter a shell is not taken for its prompt", async () => {
    const r = await exec(`bash -c 'printf "Progress: 45%%"; sleep 2; echo; echo done'`);
    expect(r).toMatchObject({ completion: "marker", exit_code: 0, output: "Progress: 45%\ndone\n" });
    const t = await h.call("get_transcript", { session_id: sid, tail: 20 });
    expect((t.events as { tool?: string }[]).filter((e) => e.tool === "probe")).toEqual([]);
  });

  it("a zsh continuation prompt (dquote>) is not typed into", async () => {
    const z = await open("zsh");
    await h.call("send_text", { session_id: z, text: 'echo "abc', timeout: 1 });
    const r = (await h.call("execute_command", { session_id: z, command: "echo hi" })) as Record<
      string,
      unknown
    >;
    expect(r).toMatchObject({ ok: false, code: "SCREEN_BUSY" });
    await h.call("send_keys", { session_id: z, keys: ["C-c"] });
    // Once zsh has drawn its prompt again (a loaded machine may take a moment; until then the
    // tool refuses, typing nothing), the command runs.
    const back = await pollUntil(
      async () => {
        const again = await h.call("execute_command", { session_id: z, command: "echo hi" });
        return again.code === "SCREEN_BUSY" ? undefined : again;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(back).toMatchObject({ exit_code: 0, output: "hi\n" });
  });

  it("a program that answers no probe is probed once on its prompt, then typed into as-is", async () => {
    // Reached the way a device CLI is (a login typed with send_text), it is probed once.
    await h.call("send_text", {
      session_id: sid,
      text: `exec sh -c 'while printf "router# " && read -r l; do echo "% Unknown command: $l"; done'`,
      timeout: 1,
    });
    for (const c of ["show version", "show clock", "show run"]) {
      const r = await exec(c, { timeout: 10 });
      expect(r).toMatchObject({ status: "completed", exit_code: null, shell: "other" });
      expect(r.output).toContain(`% Unknown command: ${c}`);
    }
    const t = await h.call("get_transcript", { session_id: sid, tail: 60 });
    const events = t.events as { tool?: string; text?: string }[];
    const since = events.findIndex((e) => e.tool === "send_text" && e.text?.includes("router#"));
    expect(since).toBeGreaterThan(-1);
    expect(events.slice(since).filter((e) => e.tool === "probe")).toHaveLength(1);
  });
});

describe("screens that are not a prompt", () => {
  let sid: string;
  const exec = async (command: string, extra: Record<string, unknown> = {}): Promise<Cmd> =>
    (await h.call("execute_command", { session_id: sid, command, ...extra })) as unknown as Cmd;
  const screen = async (): Promise<string> =>
    (await h.call("get_screen", { session_id: sid, lines: 40 })).screen as string;

  /** The command once it is no longer running (polled, with a deadline). */
  const finished = async (commandId: string): Promise<Cmd> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const g = await h.call("get_command", { session_id: sid, command_id: commandId });
      const c = g.command as Cmd;
      if (c.status !== "running" || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    sid = await open("bash");
  });

  type Step = { text: string; enter?: boolean } | { keys: string[] };
  const cases: [string, string, Step[]][] = [
    ["less", "seq 1 500 | less", [{ text: "q", enter: false }]],
    ["vi", "vi /tmp/ssh-mcp-shells-vi.txt", [{ keys: ["Escape"] }, { text: ":q!" }]],
  ];
  for (const [what, open, leave] of cases) {
    it(`${what} opened with send_text: execute_command refuses, types nothing; after leaving, it works`, async () => {
      await h.call("send_text", { session_id: sid, text: open, timeout: 2 });
      const before = await screen();
      const r = (await exec("echo hi")) as unknown as Record<string, unknown>;
      expect(r).toMatchObject({ ok: false, code: "SCREEN_BUSY" });
      expect(await screen()).toBe(before);
      for (const step of leave) {
        if ("keys" in step) await h.call("send_keys", { session_id: sid, keys: step.keys });
        else await h.call("send_text", { session_id: sid, ...step, timeout: 1 });
      }
      expect(await exec("echo after")).toMatchObject({ exit_code: 0, output: "after\n" });
    });
  }

  it("a hidden password prompt is reported as awaiting_input/password, at once", async () => {
    const r = await exec("read -s -p 'Password: ' pw; echo; echo got-${#pw}", { timeout: 30 });
    expect(r).toMatchObject({
      status: "running",
      timed_out: false,
      state: "awaiting_input",
      input_kind: "password",
    });
    expect(r.prompt).toMatch(/Password:/);
    await h.call("send_text", { session_id: sid, text: "s3cret", sensitive: true, timeout: 1 });
    const done = await finished(r.command_id);
    expect(done).toMatchObject({ status: "completed", exit_code: 0 });
    expect(done.output).toContain("got-6");
  });

  it("a sudo-style prompt is a password prompt", async () => {
    const r = await exec("printf '[sudo] password for ops: '; read -s pw; echo ok", { timeout: 30 });
    expect(r).toMatchObject({ state: "awaiting_input", input_kind: "password" });
    await h.call("send_text", { session_id: sid, text: "x", sensitive: true, wait_for: "ok", timeout: 5 });
    // Done before the next test types (a loaded machine may take longer than the wait above).
    expect(await finished(r.command_id)).toMatchObject({ status: "completed", exit_code: 0 });
  });

  it("a [y/N] question is reported as confirm", async () => {
    const r = await exec("printf 'Proceed? [y/N] '; read a; echo answer=$a", { timeout: 30 });
    expect(r).toMatchObject({ status: "running", state: "awaiting_input", input_kind: "confirm" });
    expect(r.prompt).toContain("[y/N]");
    const list = await h.call("list_commands", { session_id: sid });
    expect((list.commands as Cmd[]).find((c) => c.command_id === r.command_id)).toMatchObject({
      state: "awaiting_input",
      input_kind: "confirm",
    });
    await h.call("send_text", { session_id: sid, text: "n", wait_for: "answer=n", timeout: 5 });
    expect(await finished(r.command_id)).toMatchObject({ status: "completed", exit_code: 0 });
  });

  it("a REPL with a bare '> ' prompt (node) is reported as repl", async () => {
    const r = await exec("node", { timeout: 30 });
    expect(r).toMatchObject({ status: "running", state: "awaiting_input", input_kind: "repl", prompt: ">" });
    await h.call("send_text", { session_id: sid, text: ".exit", timeout: 1 });
    expect(await finished(r.command_id)).toMatchObject({ status: "completed", exit_code: 0 });
  });

  it("a REPL (python3) is reported as repl", async () => {
    const r = await exec("python3 -q", { timeout: 30 });
    expect(r).toMatchObject({ status: "running", state: "awaiting_input", input_kind: "repl" });
    expect(r.prompt).toBe(">>>");
    await h.call("send_keys", { session_id: sid, keys: ["C-d"] });
    expect(await finished(r.command_id)).toMatchObject({ status: "completed", exit_code: 0 });
    expect(await exec("echo back", { timeout: 10 })).toMatchObject({ exit_code: 0, output: "back\n" });
  });
});
