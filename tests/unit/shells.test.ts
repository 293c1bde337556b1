import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cleanOutput, findBegin, findEnd } from "../../src/session/output.js";
import { classifyScreen, isBusy } from "../../src/session/screen.js";
import {
  cannotWrap,
  helpersMissing,
  installLine,
  entersShell,
  parseInstall,
  parseProbe,
  probeLine,
  wrapCommand,
  type Family,
} from "../../src/session/shells.js";

const NONCE = "0123456789abcdef";
const TAB = "\t";

/** Runs a shell on a script (given after its -c); a non-zero status is a result here. */
function run(file: string, args: string[], script: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args, script],
      { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: "/tmp" } },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") reject(err);
        else resolve({ stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

/** The probe, the install line and one wrapped command, as a session would type them. */
async function roundTrip(
  shell: [string, string[]],
  family: Family,
  command: string,
): Promise<{ family?: Family; name?: string; output?: string; code?: number; stderr: string }> {
  const probe = await run(shell[0], shell[1], probeLine(NONCE) + "\n");
  const found = parseProbe(probe.stdout, NONCE);
  const install = installLine(family, "feedfacefeedface");
  const answered = await run(shell[0], shell[1], `${install}\n`);
  const name = parseInstall(answered.stdout, family, "feedfacefeedface");
  const r = await run(
    shell[0],
    shell[1],
    `${install}\n${wrapCommand({ name: name ?? null }, family, command, NONCE)}\necho AFTER\n`,
  );
  const b = findBegin(r.stdout, NONCE);
  const e = findEnd(r.stdout, NONCE, Math.max(b, 0));
  return {
    family: found,
    name,
    output: b === -1 || !e ? undefined : r.stdout.slice(b, e.outputEnd),
    code: e?.exitCode,
    stderr: r.stderr,
  };
}

const FISH: [string, string[]] = ["fish", ["-c"]];
const TCSH: [string, string[]] = ["tcsh", ["-f", "-c"]];
const DASH: [string, string[]] = ["dash", ["-c"]];

describe("the probe", () => {
  it("tells the families apart in real shells, and each names itself", async () => {
    expect(await roundTrip(DASH, "posix", "true")).toMatchObject({ family: "posix", name: "dash" });
    expect(await roundTrip(FISH, "fish", "true")).toMatchObject({ family: "fish", name: "fish" });
    expect(await roundTrip(TCSH, "csh", "true")).toMatchObject({ family: "csh", name: "tcsh" });
  });

  it("its echo never answers it", () => {
    const line = probeLine(NONCE);
    expect(parseProbe(line + "\r\n", NONCE)).toBeUndefined();
    expect(parseProbe(`\x1b]133;P;sshmcp=${NONCE};probe=a\\b;\x07`, NONCE)).toBe("fish");
    expect(parseProbe(`\x1b]133;P;sshmcp=${NONCE};probe=a\\\\b;/bin/tcsh\x07`, NONCE)).toBe("csh");
    expect(parseProbe(`\x1b]133;P;sshmcp=${NONCE};probe=a\\\\b;\x07`, NONCE)).toBe("posix");
    expect(parseProbe(`\x1b]133;P;sshmcp=ffffffffffffffff;probe=a\\b;\x07`, NONCE)).toBeUndefined();
  });

  it("names POSIX shells from /proc/$$/exe, else their version variables", () => {
    const answer = (v: string) => `\x1b]133;P;sshmcp=${NONCE};shell=${v}\x07`;
    expect(parseInstall(answer(":/usr/bin/dash"), "posix", NONCE)).toBe("dash");
    expect(parseInstall(answer(":/bin/busybox"), "posix", NONCE)).toBe("ash");
    expect(parseInstall(answer("ksh:/bin/mksh"), "posix", NONCE)).toBe("mksh");
    expect(parseInstall(answer("bash:"), "posix", NONCE)).toBe("bash");
    expect(parseInstall(answer(":"), "posix", NONCE)).toBe("sh");
    expect(parseInstall(answer("1"), "csh", NONCE)).toBe("tcsh");
    expect(parseInstall(answer("0"), "csh", NONCE)).toBe("csh");
  });
});

describe("the fish and csh wrappers round-trip exactly", () => {
  const CASES: [string, string, string, number][] = [
    ["plain", "echo hi", "hi\n", 0],
    ["no trailing newline", "printf 'no newline'", "no newline", 0],
    ["exit status", "false", "", 1],
    ["quotes and specials", `echo "it's" 'a"b' 'x!y' '$HOME'`, `it's a"b x!y $HOME\n`, 0],
    ["a TAB", `echo 'a${TAB}b'`, `a${TAB}b\n`, 0],
    ["backslashes", "printf '%s\\n' 'back\\slash'", "back\\slash\n", 0],
    ["unicode", "echo '中文 😀'", "中文 😀\n", 0],
  ];
  it.each(CASES)("fish: %s", async (_n, command, output, code) => {
    expect(await roundTrip(FISH, "fish", command)).toMatchObject({ output, code });
  });
  // A TAB goes to tcsh behind ^V, which only its line editor (a terminal) takes as literal-next:
  // the TAB case for tcsh runs over a real terminal in the integration tests.
  it.each(CASES.filter((c) => c[0] !== "a TAB"))("tcsh: %s", async (_n, command, output, code) => {
    expect(await roundTrip(TCSH, "csh", command)).toMatchObject({ output, code });
  });
  it("fish: a multi-line command stays one typed line and runs both lines", async () => {
    const w = wrapCommand({ name: "fish" }, "fish", "echo one\necho two", NONCE);
    expect(w.split("\n")).toHaveLength(1);
    expect(await roundTrip(FISH, "fish", "echo one\necho two")).toMatchObject({
      output: "one\ntwo\n",
      code: 0,
    });
  });
  it("fish: a syntax error ends with the shell's status, the shell goes on", async () => {
    const r = await roundTrip(FISH, "fish", "echo (");
    expect(r.code).not.toBe(0);
    expect(r.code).toBeDefined();
  });
  it("tcsh: a ! that history would expand is escaped, one it would not is left as it is", async () => {
    expect(await roundTrip(TCSH, "csh", "if (1 != 2) echo yes")).toMatchObject({ output: "yes\n", code: 0 });
    expect(await roundTrip(TCSH, "csh", "echo a\\!b 'c!d' e!")).toMatchObject({
      output: "a!b c!d e!\n",
      code: 0,
    });
  });
  it("csh refuses control characters other than TAB, and very long lines", () => {
    expect(cannotWrap("csh", "echo a\x03b")).toMatch(/control characters/);
    expect(cannotWrap("csh", `echo a${TAB}b`)).toBeUndefined();
    expect(cannotWrap("csh", "x".repeat(5000))).toBeUndefined();
    expect(cannotWrap("csh", `echo ${"''".repeat(2000)}x`)).toMatch(/10 kB/);
  });
  it("csh refuses a multi-line command before anything is typed", () => {
    expect(cannotWrap("csh", "echo a\necho b")).toMatch(/one line/);
    expect(cannotWrap("posix", "echo a\necho b")).toBeUndefined();
    expect(cannotWrap("fish", "echo a\necho b")).toBeUndefined();
  });
  it("no wrapper's echo contains a mark", () => {
    for (const f of ["posix", "fish", "csh"] as const) {
      const w = wrapCommand({ name: null }, f, "echo x", NONCE);
      expect(findBegin(w, NONCE)).toBe(-1);
      expect(findEnd(w, NONCE)).toBeUndefined();
      expect(w.length).toBeLessThan(70);
    }
  });
});

describe("helpersMissing", () => {
  const echo = ` __mcp_b ${NONCE}&&command eval 'x';__mcp_e $?\r\n`;
  it.each([
    ["bash", "bash: __mcp_b: command not found"],
    ["bash -c", "-bash: line 1: __mcp_b: command not found"],
    ["dash", "dash: 1: __mcp_b: not found"],
    ["zsh", "zsh: command not found: __mcp_b"],
    ["fish", "fish: Unknown command: __mcp_b"],
    ["tcsh", "__mcp_b: Command not found."],
    ["mksh", "mksh: __mcp_b: inaccessible or not found"],
    ["fish given a POSIX line", "fish: $? is not the exit status. In fish, please use $status."],
  ])("reads %s's words after the echo", (_n, said) => {
    expect(helpersMissing(`${echo}${said}\r\n`, NONCE)).toBe(true);
  });
  it("never reads the echo, a redraw of the typed line, or a command's own words", () => {
    const named = ` __mcp_b ${NONCE}&&command eval 'echo "__mcp_b: not found"';__mcp_e $?\r\n`;
    expect(helpersMissing(named, NONCE)).toBe(false);
    expect(helpersMissing(`${named}prompt$ ${named}`, NONCE)).toBe(false);
    expect(helpersMissing(`${echo}bash: nosuch: command not found\r\n`, NONCE)).toBe(false);
    expect(helpersMissing(`${echo}grep: No such file: not found\r\n`, NONCE)).toBe(false);
    // Before the echo is whole, nothing is read.
    expect(helpersMissing("bash: __mcp_b: command not found", NONCE)).toBe(false);
  });
});

describe("entersShell", () => {
  it.each([
    "ssh host",
    "ssh -p 2222 -i key user@host",
    "sudo -i",
    "sudo su -",
    "sudo bash",
    "su - ops",
    "kubectl exec -it p -- sh",
    "kubectl -n ns exec -ti p -- bash",
    "bash",
    "zsh -l",
    "exec fish",
    "exit",
    "cd /x && docker exec -it c sh",
  ])("%s", (c) => expect(entersShell(c)).toBe(true));
  it.each([
    "ls -la",
    "echo bash-completion",
    "cat /etc/shells",
    "bash -c 'printf x; sleep 5'",
    "sh script.sh",
    "sudo ./migrate.sh",
    "ssh host uptime",
    "kubectl exec p -- cat /etc/hosts",
  ])("not %s", (c) => expect(entersShell(c)).toBe(false));
});

describe("classifyScreen", () => {
  it.each([
    ["user@host:~$ ", "prompt"],
    ["[ops@master-a ~]# ", "prompt"],
    ["vm% ", "prompt"],
    ["user@host ~> ", "prompt"],
    ["❯ ", "prompt"],
    ["user@host:~$ echo half-typed", "prompt"],
    ["Password: ", "password"],
    ["[sudo] password for ops: ", "password"],
    ["Enter passphrase for key '/k': ", "password"],
    ["Do you want to continue? [Y/n] ", "confirm"],
    ["Are you sure you want to continue connecting (yes/no/[fingerprint])? ", "confirm"],
    ["Proceed? [y/N] ", "confirm"],
    ["rm: remove regular empty file 'f'? ", "confirm"],
    ["cp: overwrite 'b'? ", "confirm"],
    ["Overwrite? (y/n [n]) ", "confirm"],
    ["user@host ~/src main \ue0b0 ", "prompt"],
    ["--More--(42%)", "pager"],
    ["(END)", "pager"],
    [":", "pager"],
    [">>> ", "repl"],
    ["mysql> ", "repl"],
    ["postgres=# ", "repl"],
    ["> ", "text"],
    ["Target IP: ", "text"],
    ["some output line", "text"],
  ])("%j is %s", (line, kind) => {
    expect(classifyScreen(`earlier output\n${line}`).kind).toBe(kind);
  });

  it("a line the shell printed after its end mark is its prompt, whatever it looks like", () => {
    expect(classifyScreen("out\n/srv/app: ", { knownPrompt: "/srv/app: " })).toMatchObject({
      kind: "prompt",
      shellLike: true,
    });
  });

  it("prompt_regex makes a prompt, but not one worth a probe", () => {
    const s = classifyScreen("menu\nTarget IP: ", { prompt: /Target IP:\s*$/ });
    expect(s).toMatchObject({ kind: "prompt" });
    expect(s.shellLike).toBeFalsy();
  });

  it("a program waiting with the cursor on a fresh line is not at the prompt", () => {
    expect(classifyScreen("user@host:~$ cat\n").kind).toBe("text");
  });

  it("on the alternate screen: an editor, a pager, or another full-screen program", () => {
    expect(classifyScreen('text\n~\n~\n~\n"f" [New]', { alternate: true }).kind).toBe("editor");
    expect(classifyScreen("line 1\nline 2\n:", { alternate: true }).kind).toBe("pager");
    expect(classifyScreen("top - 10:00 up 1 day", { alternate: true }).kind).toBe("other");
  });

  it("busy kinds are the ones execute_command must not type into", () => {
    expect(["password", "confirm", "pager", "editor", "other"].every((k) => isBusy(k as never))).toBe(true);
    expect(["prompt", "repl", "text"].some((k) => isBusy(k as never))).toBe(false);
  });

  it("reads the cleaned screen of a zsh prompt (PROMPT_SP) as a prompt", () => {
    const raw =
      "\x1b[1m\x1b[7m#\x1b[27m\x1b[1m\x1b[0m" +
      " ".repeat(119) +
      "\r \r\r\x1b[0m\x1b[27m\x1b[24m\x1b[Jvm# \x1b[K";
    expect(classifyScreen(cleanOutput(raw)).kind).toBe("prompt");
  });
});
