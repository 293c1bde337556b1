import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import {
  BRIDGE_WRAPPER,
  bridgeExit,
  hasExitLine,
  paneCommands,
  sshPromptOnScreen,
  tmuxFormatEscape,
  type PaneSpec,
} from "../../src/session/pane-process.js";

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8" }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve({ stdout, stderr, code: typeof err?.code === "number" ? err.code : 0 });
    });
  });
}

/** The words a sh command line stands for. */
async function shWords(commandLine: string): Promise<string[]> {
  const r = await run("sh", ["-c", `set -- ${commandLine}; printf '%s\\0' "$@"`]);
  expect(r.code).toBe(0);
  return r.stdout.split("\0").slice(0, -1);
}

function profile(fields: Record<string, unknown> = {}): Profile {
  return { ...profileSchema.parse({ host: "h", ...fields }), host: "h", name: "p", keepalive_interval: 30 };
}

function spec(o: Partial<PaneSpec> = {}): PaneSpec {
  return {
    id: "s-1",
    profile: profile({ width: 132, height: 43, term: "screen-256color" }),
    bridgeArgv: ["ssh", "-tt", "--", "host"],
    env: {},
    unsetEnv: [],
    tapArgv: ["/usr/bin/node", "/opt/tap.js", "/var/t/s-1.jsonl", "s-1"],
    options: [],
    ...o,
  };
}

describe("BRIDGE_WRAPPER", () => {
  it("runs the bridge, prints its exit status as the last line and exits with it", async () => {
    const r = await run("sh", ["-c", BRIDGE_WRAPPER, "ssh-mcp-bridge", "sh", "-c", "echo out; exit 7"]);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe("out\n\r\n[ssh-mcp] bridge exited with status 7\r\n");
  });

  it.each([0, 1, 255])("reports status %i", async (status) => {
    const r = await run("sh", ["-c", BRIDGE_WRAPPER, "x", "sh", "-c", `exit ${status}`]);
    expect(r.code).toBe(status);
    expect(r.stdout).toBe(`\r\n[ssh-mcp] bridge exited with status ${status}\r\n`);
    expect(bridgeExit(r.stdout.replace(/\r/g, ""), null).status).toBe(status);
  });

  it("passes the bridge argv through untouched (spaces, quotes, $, globs)", async () => {
    const args = ["a b", "it's", '"q"', "$HOME", "*", ""];
    const r = await run("sh", ["-c", BRIDGE_WRAPPER, "x", "printf", "<%s>", ...args]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      args.map((a) => `<${a}>`).join("") + "\r\n[ssh-mcp] bridge exited with status 0\r\n",
    );
  });

  it("reports 127 for a bridge that cannot be found", async () => {
    const r = await run("sh", ["-c", BRIDGE_WRAPPER, "x", "/nonexistent/ssh-mcp-no-such-bridge"]);
    expect(r.code).toBe(127);
    expect(r.stdout).toContain("[ssh-mcp] bridge exited with status 127");
  });
});

describe("bridgeExit / hasExitLine", () => {
  it("reads the status from the exit line and removes that line", () => {
    const text = "Connection refused\n\n[ssh-mcp] bridge exited with status 255\n";
    expect(hasExitLine(text)).toBe(true);
    expect(bridgeExit(text, 0)).toEqual({ status: 255, text: "Connection refused\n\n" });
  });

  it("works on the wrapper's real output after cleaning CRs", async () => {
    const r = await run("sh", [
      "-c",
      BRIDGE_WRAPPER,
      "x",
      "sh",
      "-c",
      "echo 'Permission denied (publickey).'; exit 255",
    ]);
    const exit = bridgeExit(r.stdout.replace(/\r\n/g, "\n"), null);
    expect(exit.status).toBe(255);
    expect(exit.text).toBe("Permission denied (publickey).\n\n");
    expect(hasExitLine(exit.text)).toBe(false);
  });

  it("falls back to tmux's status (or null) without an exit line", () => {
    expect(hasExitLine("no line here\n")).toBe(false);
    expect(bridgeExit("no line here\n", 3)).toEqual({ status: 3, text: "no line here\n" });
    expect(bridgeExit("", null)).toEqual({ status: null, text: "" });
    expect(bridgeExit("[ssh-mcp] bridge exited with status x\n", null).status).toBeNull();
  });

  it("prefers the exit line over tmux's status and takes the last of several", () => {
    const text = "[ssh-mcp] bridge exited with status 1\nagain\n[ssh-mcp] bridge exited with status 0\n";
    expect(bridgeExit(text, 9)).toEqual({ status: 0, text: "again\n" });
  });

  it("finds a status line that has not got its line break yet", () => {
    expect(hasExitLine("x\n[ssh-mcp] bridge exited with status 12")).toBe(true);
    expect(bridgeExit("x\n[ssh-mcp] bridge exited with status 12", null)).toEqual({
      status: 12,
      text: "x\n",
    });
  });
});

describe("tmuxFormatEscape", () => {
  it("doubles every '#'", () => {
    expect(tmuxFormatEscape("#{pane_id} #(id) ## a#b")).toBe("##{pane_id} ##(id) #### a##b");
    expect(tmuxFormatEscape("no hash")).toBe("no hash");
    expect(tmuxFormatEscape("")).toBe("");
  });
});

describe("paneCommands", () => {
  it("sets the server options, creates the pane, tags it and taps it last", () => {
    const cmds = paneCommands(
      spec({
        options: [
          ["@ssh_mcp_session_id", "s-1"],
          ["@ssh_mcp_profile", "p"],
        ],
      }),
    );
    expect(cmds[0]).toEqual(["set-option", "-s", "exit-empty", "off"]);
    expect(cmds[1]).toEqual(["set-option", "-g", "history-limit", "2000"]);
    expect(cmds[2]).toEqual(["set-option", "-gw", "remain-on-exit", "on"]);
    expect(cmds[3]?.[0]).toBe("new-session");
    expect(cmds.slice(4, -1)).toEqual([
      ["set-option", "-w", "-t", "=s-1:", "window-size", "manual"],
      ["set-option", "-w", "-t", "=s-1:", "@ssh_mcp_session_id", "s-1"],
      ["set-option", "-w", "-t", "=s-1:", "@ssh_mcp_profile", "p"],
    ]);
    const last = cmds.at(-1);
    expect(last?.slice(0, 4)).toEqual(["pipe-pane", "-O", "-t", "=s-1:"]);
    expect(last).toHaveLength(5);
    expect(cmds.filter((c) => c[0] === "pipe-pane")).toHaveLength(1);
  });

  it("creates a detached session of the profile's size running the bridge under the wrapper", () => {
    const ns = paneCommands(spec())[3] ?? [];
    expect(ns.slice(0, 8)).toEqual(["new-session", "-d", "-s", "s-1", "-x", "132", "-y", "43"]);
    const dd = ns.indexOf("--");
    expect(ns.slice(dd - 3, dd)).toEqual(["-P", "-F", "#{pane_id}"]);
    expect(ns.slice(dd + 1)).toEqual([
      "env",
      "TERM=screen-256color",
      "sh",
      "-c",
      BRIDGE_WRAPPER,
      "ssh-mcp-bridge",
      "ssh",
      "-tt",
      "--",
      "host",
    ]);
    expect(ns).not.toContain("-e");
  });

  it("passes env with -e K=V and removes unsetEnv names with env -u", () => {
    const ns =
      paneCommands(
        spec({
          env: { SSH_ASKPASS: "/x/askpass", SSH_ASKPASS_REQUIRE: "force" },
          unsetEnv: ["LC_CTYPE", "LC_ALL"],
        }),
      )[3] ?? [];
    const dd = ns.indexOf("--");
    const before = ns.slice(0, dd);
    const e1 = before.indexOf("SSH_ASKPASS=/x/askpass");
    const e2 = before.indexOf("SSH_ASKPASS_REQUIRE=force");
    expect(before[e1 - 1]).toBe("-e");
    expect(before[e2 - 1]).toBe("-e");
    expect(ns.slice(dd + 1, dd + 7)).toEqual([
      "env",
      "-u",
      "LC_CTYPE",
      "-u",
      "LC_ALL",
      "TERM=screen-256color",
    ]);
  });

  it("the wrapped pane command line really runs: env -u drops the variable, the bridge gets its argv", async () => {
    const ns =
      paneCommands(
        spec({
          unsetEnv: ["SSHMCP_TEST_DROP"],
          bridgeArgv: ["sh", "-c", 'printf "%s|%s" "$TERM" "${SSHMCP_TEST_DROP-unset}"; exit 5'],
        }),
      )[3] ?? [];
    const argv = ns.slice(ns.indexOf("--") + 1);
    const r = await new Promise<Run>((resolve, reject) => {
      execFile(
        argv[0] ?? "",
        argv.slice(1),
        { encoding: "utf8", env: { ...process.env, SSHMCP_TEST_DROP: "present" } },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== "number") reject(err);
          else resolve({ stdout, stderr, code: typeof err?.code === "number" ? err.code : 0 });
        },
      );
    });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe("screen-256color|unset\r\n[ssh-mcp] bridge exited with status 5\r\n");
  });

  it("execs the tap with every word quoted and every '#' doubled", async () => {
    const tapArgv = ["/usr/bin/node", "/opt/#tap dir/tap.js", "/var/t/#{pane_id} it's.jsonl", "s-#1"];
    const tap = paneCommands(spec({ tapArgv })).at(-1)?.[4] ?? "";
    expect(tap.startsWith("exec ")).toBe(true);
    const hashes = (s: string) => s.split("#").length - 1;
    expect(hashes(tap)).toBe(2 * tapArgv.reduce((n, a) => n + hashes(a), 0));
    expect(tap).not.toMatch(/(^|[^#])#([^#]|$)/); // no single '#' left for tmux to expand
    // What tmux hands to the shell after format expansion (## -> #) is the tap argv exactly.
    const unescaped = tap.replace(/##/g, "#");
    expect(await shWords(unescaped.replace(/^exec /, ""))).toEqual(tapArgv);
  });
});

describe("sshPromptOnScreen", () => {
  it.each([
    "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
    "Are you sure you want to continue connecting (yes/no)? ",
    "Are you sure you want to continue connecting (yes/no/[fingerprint])?",
  ])("sees the host key question: %j", (line) => {
    expect(sshPromptOnScreen(line)).toBe("host_key");
  });

  it.each([
    "Enter passphrase for key '/k': ",
    "Enter passphrase for key '/home/me/.ssh/id_ed25519':",
    "root@host's password: ",
    "ops@10.0.0.5's password:",
    "(root@host) Password: ",
    "(ops@bastion.example) Password:",
  ])("sees a secret prompt: %j", (line) => {
    expect(sshPromptOnScreen(line)).toBe("secret");
  });

  it.each([
    "Password: ",
    "password:",
    "Target IP:",
    "Enter passphrase: ",
    "root@host:~# ",
    "ops@web-1:/var/log$ ",
    "[ops@web-1 ~]$ ",
    "echo Are you sure",
    "",
    "Last login: Mon Jan  1 00:00:00 2024 from 10.0.0.1",
  ])("ignores a line that is not ssh's own prompt: %j", (line) => {
    expect(sshPromptOnScreen(line)).toBeUndefined();
  });
});
