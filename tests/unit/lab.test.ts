import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as pty from "node-pty";
import stripAnsi from "strip-ansi";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureKeys } from "../../lab/keys.js";
import { modeOf } from "../../lab/server.js";
import { pollUntil } from "../support/poll.js";

/** Absolute, with a trailing slash, as the lab server passes LAB_SCRIPTS. */
const scriptsDir = fileURLToPath(new URL("../../lab/scripts/", import.meta.url));
const PATH = process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-lab-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("modeOf", () => {
  it("picks the misbehaviour from the login name", () => {
    expect(modeOf("ops")).toBe("");
    expect(modeOf("ops-cr")).toBe("cr");
    expect(modeOf("ops-ansi")).toBe("ansi");
  });
});

describe("ensureKeys", () => {
  it("creates a host key, a private client key and a known_hosts entry for the port", () => {
    const labDir = join(dir, "lab");
    const keys = ensureKeys(labDir, "127.0.0.1", 2345);
    expect(keys).toEqual({
      hostKey: join(labDir, "host_ed25519"),
      clientKey: join(labDir, "client_ed25519"),
      clientPub: join(labDir, "client_ed25519.pub"),
      knownHosts: join(labDir, "known_hosts"),
    });
    for (const f of ["host_ed25519", "host_ed25519.pub", "client_ed25519", "client_ed25519.pub"]) {
      expect(existsSync(join(labDir, f)), f).toBe(true);
    }
    expect(statSync(keys.clientKey).mode & 0o777).toBe(0o600);
    expect(statSync(keys.hostKey).mode & 0o777).toBe(0o600);
    expect(readFileSync(keys.clientKey, "utf8")).toContain("OPENSSH PRIVATE KEY");
    const hostBlob = readFileSync(`${keys.hostKey}.pub`, "utf8").trim().split(/\s+/)[1];
    expect(readFileSync(keys.knownHosts, "utf8")).toBe(`[127.0.0.1]:2345 ssh-ed25519 ${hostBlob}\n`);
  });

  it("keeps the keys on a second call and adds known_hosts lines for new ports", () => {
    const labDir = join(dir, "lab");
    const first = ensureKeys(labDir, "127.0.0.1", 2345);
    const hostPub = readFileSync(`${first.hostKey}.pub`, "utf8");
    const clientPub = readFileSync(first.clientPub, "utf8");
    const second = ensureKeys(labDir, "127.0.0.1", 2346);
    expect(readFileSync(`${second.hostKey}.pub`, "utf8")).toBe(hostPub);
    expect(readFileSync(second.clientPub, "utf8")).toBe(clientPub);
    // A lab on another port from the same directory must not break the first one's entry.
    const known = readFileSync(second.knownHosts, "utf8").trim().split("\n");
    expect(known).toHaveLength(2);
    expect(known[0]).toMatch(/^\[127\.0\.0\.1\]:2345 ssh-ed25519 [A-Za-z0-9+/=]+$/);
    expect(known[1]).toMatch(/^\[127\.0\.0\.1\]:2346 ssh-ed25519 [A-Za-z0-9+/=]+$/);
    expect(known[1]?.split(" ")[2]).toBe(hostPub.trim().split(/\s+/)[1]);
    ensureKeys(labDir, "127.0.0.1", 2346);
    expect(readFileSync(second.knownHosts, "utf8").trim().split("\n")).toHaveLength(2);
    ensureKeys(labDir, "127.0.0.1", 22);
    expect(readFileSync(second.knownHosts, "utf8")).toMatch(/\n127\.0\.0\.1 ssh-ed25519 /);
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      [scriptsDir + "bin/kubectl", ...args],
      { env: { LAB_DIR: dir, LAB_SCRIPTS: scriptsDir, PATH }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("fake kubectl", () => {
  it("get ns lists default, kube-system and payment", async () => {
    const r = await kubectl("get", "ns");
    expect(r.code).toBe(0);
    const names = r.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    expect(names).toEqual(["default", "kube-system", "payment"]);
  });

  it("get pods -n payment: a header and three pods, exactly one in CrashLoopBackOff", async () => {
    const r = await kubectl("get", "pods", "-n", "payment");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(lines).toHaveLength(4);
    expect(lines.filter((l) => l.includes("CrashLoopBackOff"))).toHaveLength(1);
    expect(lines.find((l) => l.includes("CrashLoopBackOff"))).toMatch(/^payment-worker-5c6d7f8b9-q8r7t\s/);
    expect(r.stdout).toContain("payment-api-7d9f8b6c4-x2k9p");
    expect(r.stdout).not.toContain("coredns");
  });

  it("get pods -A adds a NAMESPACE column and shows the kube-system pods", async () => {
    const r = await kubectl("get", "pods", "-A");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+READY\s+STATUS/);
    expect(lines.some((l) => /^kube-system\s+coredns-/.test(l))).toBe(true);
    expect(lines.some((l) => /^kube-system\s+etcd-master-a\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^payment\s+redis-0\s/.test(l))).toBe(true);
  });

  it("get pods in a namespace without pods says No resources found", async () => {
    const r = await kubectl("get", "pods", "-n", "empty");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("No resources found in empty namespace.");
  });

  it("logs --tail=1 of the crashing worker is its FATAL line", async () => {
    const r = await kubectl("logs", "payment-worker-5c6d7f8b9-q8r7t", "-n", "payment", "--tail=1");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ FATAL .*worker exiting/);
  });

  it("logs of an unknown pod exits 1 with NotFound on stderr", async () => {
    const r = await kubectl("logs", "nosuch", "-n", "payment");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("NotFound");
    expect(r.stderr).toContain('"nosuch"');
    expect(r.stdout).toBe("");
  });

  it("exec -it POD -- bash fails: the pod has no bash", async () => {
    const r = await kubectl("exec", "-it", "payment-api-7d9f8b6c4-x2k9p", "-n", "payment", "--", "bash");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("executable file not found");
  });

  it("an unknown verb exits 1 and names it", async () => {
    const r = await kubectl("frobnicate", "pods");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});

/** The bastion menu in a real PTY, with everything it printed. */
interface Menu {
  term: pty.IPty;
  raw: string;
  exit?: { exitCode: number; signal?: number };
}

const menus: Menu[] = [];

afterEach(() => {
  for (const m of menus.splice(0)) {
    if (!m.exit) m.term.kill();
  }
});

function startMenu(mode: "" | "cr"): Menu {
  const term = pty.spawn("bash", ["--noprofile", "--norc", scriptsDir + "menu.sh"], {
    cols: 120,
    rows: 40,
    env: {
      LAB_DIR: dir,
      LAB_SCRIPTS: scriptsDir,
      LAB_PASSWORD: "pw-test",
      PATH,
      TERM: "xterm",
      LAB_MODE: mode,
    },
  });
  const menu: Menu = { term, raw: "" };
  term.onData((d) => {
    menu.raw += d;
  });
  term.onExit((e) => {
    menu.exit = e;
  });
  menus.push(menu);
  return menu;
}

/** Where the output ends now: what arrives after this is the answer to the next write. */
function mark(m: Menu): number {
  return m.raw.length;
}

/** Waits until the output since `from` (without ANSI codes) contains `text`; returns that output. */
function waitFor(m: Menu, from: number, text: string | RegExp, timeoutMs = 10_000): Promise<string> {
  return pollUntil(
    () => {
      const since = stripAnsi(m.raw.slice(from));
      return (typeof text === "string" ? since.includes(text) : text.test(since)) ? since : undefined;
    },
    {
      timeoutMs,
      message: `menu output never showed ${String(text)}; tail: ${JSON.stringify(stripAnsi(m.raw).slice(-300))}`,
    },
  );
}

/** Writes `input` and waits for `text` in the answer. */
async function answer(m: Menu, input: string, text: string | RegExp): Promise<string> {
  const from = mark(m);
  m.term.write(input);
  return waitFor(m, from, text);
}

describe("bastion menu (menu.sh in a PTY)", () => {
  it("lists targets, rejects bad input, asks privileged users for a password, runs the master shell", async () => {
    const m = startMenu("");
    const banner = await waitFor(m, 0, "Target IP:");
    expect(banner).toContain("CMSM Bastion");

    const list = await answer(m, "\r", "Target IP:");
    expect(list).toMatch(/10\.0\.0\.11\s+master-a/);
    expect(list).toMatch(/10\.0\.0\.12\s+master-b/);

    const unknown = await answer(m, "10.9.9.9\r", "Target IP:");
    expect(unknown).toContain("No such target: 10.9.9.9");
    expect(unknown).not.toContain("User number:");

    const accounts = await answer(m, "10.0.0.11\r", "User number:");
    expect(accounts).toContain("Target master-a (10.0.0.11)");
    expect(accounts).toMatch(/3\) root\s+privileged/);

    const invalid = await answer(m, "9\r", "User number:");
    expect(invalid).toContain("Invalid user number '9'");

    await answer(m, "3\r", "Password:");
    const passwordFrom = mark(m);
    const denied = await answer(m, "bad\r", /Access denied[\s\S]*Password:/);
    expect(denied).not.toContain("bad");
    expect(stripAnsi(m.raw.slice(passwordFrom))).not.toContain("bad");

    const shell = await answer(m, "pw-test\r", "[root@master-a ~]# ");
    expect(shell).toContain("Connecting to master-a as root");
    expect(shell).not.toContain("pw-test");

    const pods = await answer(m, "kubectl get pods -n payment\r", /CrashLoopBackOff[\s\S]*\]# $/);
    expect(pods).toContain("payment-worker-5c6d7f8b9-q8r7t");

    const closed = await answer(m, "exit\r", "Target IP:");
    expect(closed).toContain("Connection to master-a closed");

    const bye = await answer(m, "q\r", "Bye.");
    expect(bye).toContain("Bye.");
    const exit = await pollUntil(() => m.exit, { message: "menu did not exit after q" });
    expect(exit.exitCode).toBe(0);
    expect(stripAnsi(m.raw)).not.toContain("pw-test");
  });

  it("an unprivileged user gets the master shell without a password", async () => {
    const m = startMenu("");
    await waitFor(m, 0, "Target IP:");
    await answer(m, "10.0.0.12\r", "User number:");
    const shell = await answer(m, "2\r", "[deploy@master-b ~]# ");
    expect(shell).not.toContain("Password:");
    const closed = await answer(m, "exit\r", "Target IP:");
    expect(closed).toContain("Connection to master-b closed");
  });

  it("LAB_MODE=cr: LF does not end the line, CR does", async () => {
    const m = startMenu("cr");
    await waitFor(m, 0, "Target IP:");
    const from = mark(m);
    // The trailing "1" is written after the LF: once the menu has echoed it, it has read the LF too.
    m.term.write("10.0.0.1\n");
    await waitFor(m, from, "10.0.0.1");
    m.term.write("1");
    const beforeCr = await waitFor(m, from, "10.0.0.11");
    expect(beforeCr).not.toContain("User number:");
    expect(beforeCr).not.toContain("No such target");
    const afterCr = await answer(m, "\r", "User number:");
    expect(afterCr).toContain("Target master-a (10.0.0.11)");
    expect(stripAnsi(m.raw.slice(from))).not.toContain("No such target");

    const shell = await answer(m, "1\r", "[ops@master-a ~]# ");
    expect(shell).toContain("Connecting to master-a as ops");
    await answer(m, "exit\r", "Target IP:");
    await answer(m, "q\r", "Bye.");
    const exit = await pollUntil(() => m.exit, { message: "menu did not exit after q" });
    expect(exit.exitCode).toBe(0);
  });

  // A client (like an ssh-mcp route step) answers as soon as it sees the prompt. The prompt must
  // only be shown once echo is off, or the password lands on the screen. Several tries, because
  // the window between the prompt and the echo switch is short.
  it.each([
    ["default", ""],
    ["cr", "cr"],
  ] as const)("%s mode: a password sent the moment Password: appears is not echoed", async (_label, mode) => {
    for (let attempt = 0; attempt < 15; attempt++) {
      const m = startMenu(mode);
      let stage = 0;
      m.term.onData(() => {
        const text = stripAnsi(m.raw);
        if (stage === 0 && text.includes("Target IP:")) {
          stage = 1;
          m.term.write("10.0.0.11\r");
        } else if (stage === 1 && text.includes("User number:")) {
          stage = 2;
          m.term.write("3\r");
        } else if (stage === 2 && text.includes("Password:")) {
          stage = 3;
          m.term.write("zz-secret\r");
        }
      });
      const out = await waitFor(m, 0, "Access denied");
      expect(out.slice(out.indexOf("Password:")), `attempt ${attempt + 1}`).not.toContain("zz-secret");
      m.term.kill();
    }
  });
});
