import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { pollUntil } from "../support/poll.js";
import { startSshd, sshArgs, type SshdFixture } from "../support/sshd.js";
import { killTmuxServer, tmuxEnv, uniqueSocket } from "../support/tmux.js";

const execFileAsync = promisify(execFile);

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and reports its exit code instead of throwing, so tests can assert on failures. */
async function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, { env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown };
    return {
      code: typeof e.code === "number" ? e.code : -1,
      stdout: typeof e.stdout === "string" ? e.stdout : "",
      stderr: typeof e.stderr === "string" ? e.stderr : String(err),
    };
  }
}

function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("sshd fixture", () => {
  let f: SshdFixture;

  beforeAll(async () => {
    f = await startSshd();
  });

  afterAll(async () => {
    await f?.stop();
  });

  it("accepts the client key with strict host key checking", async () => {
    const r = await run("ssh", [...sshArgs(f), "echo", "hello-from-sshd"]);
    expect(r.stderr).not.toMatch(/denied|verification failed/i);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("hello-from-sshd");
  });

  it("`ssh ... true` exits 0", async () => {
    const r = await run("ssh", [...sshArgs(f), "true"]);
    expect(r.code).toBe(0);
  });

  it("gives sessions a HOME of their own, away from the machine user's dotfiles", async () => {
    const r = await run("ssh", [...sshArgs(f), 'echo "$HOME"']);
    expect(r.stdout.trim()).toBe(path.join(f.dir, "home"));
  });

  it("rejects a mismatched host key", async () => {
    const args = sshArgs(f).map((a) =>
      a === "UserKnownHostsFile=" + f.knownHostsFile ? "UserKnownHostsFile=" + f.wrongKnownHostsFile : a,
    );
    expect(args).toContain("UserKnownHostsFile=" + f.wrongKnownHostsFile);
    const r = await run("ssh", [...args, "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it("rejects an unknown host with an empty known_hosts file", async () => {
    const args = sshArgs(f).map((a) =>
      a === "UserKnownHostsFile=" + f.knownHostsFile ? "UserKnownHostsFile=" + f.emptyKnownHostsFile : a,
    );
    const r = await run("ssh", [...args, "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  it("protects the encrypted key with the passphrase, and authorizes it", async () => {
    const ok = await run("ssh-keygen", ["-y", "-P", f.passphrase, "-f", f.encryptedKey]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ssh-ed25519 /);
    const bad = await run("ssh-keygen", ["-y", "-P", "wrong-" + f.passphrase, "-f", f.encryptedKey]);
    expect(bad.code).not.toBe(0);

    // Without a passphrase source the key is unusable in batch mode, so login must fail.
    const batch = await run("ssh", [...sshArgs(f, f.encryptedKey), "true"]);
    expect(batch.code).not.toBe(0);

    // With the passphrase supplied through SSH_ASKPASS the same key logs in. ssh uses the first value
    // given for an option, so the leading BatchMode=no overrides the one in sshArgs.
    const askpass = path.join(f.dir, "askpass.sh");
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${f.passphrase}'\n`, { mode: 0o700 });
    const env = { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" };
    const r = await run("ssh", ["-o", "BatchMode=no", ...sshArgs(f, f.encryptedKey), "echo", "enc-ok"], env);
    expect(r.stderr).not.toMatch(/denied/i);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("enc-ok");
  });

  it("stop() makes the port refuse connections and removes the temp dir", async () => {
    expect(await tcpConnects(f.port)).toBe(true);
    expect(existsSync(f.dir)).toBe(true);
    await f.stop();
    await pollUntil(async () => !(await tcpConnects(f.port)), {
      timeoutMs: 10_000,
      message: `port ${f.port} still accepts connections after stop()`,
    });
    expect(existsSync(f.dir)).toBe(false);
    expect(() => process.kill(f.pid, 0)).toThrow();
    // A second stop() (e.g. from afterAll) must be harmless.
    await expect(f.stop()).resolves.toBeUndefined();
  });
});

describe("tmux fixture", () => {
  const socket = uniqueSocket("fx");

  afterAll(async () => {
    await killTmuxServer(socket);
  });

  it("produces short, unique socket names", () => {
    const other = uniqueSocket("fx");
    expect(other).not.toBe(socket);
    expect(socket).toMatch(/^smt-fx-\d+-[0-9a-f]+$/);
    expect(socket.length).toBeLessThan(40);
  });

  it("killTmuxServer stops a running server and tolerates a missing one", async () => {
    const env = tmuxEnv();
    const created = await run("tmux", ["-L", socket, "new-session", "-d", "-s", "t"], env);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect((await run("tmux", ["-L", socket, "has-session", "-t", "t"], env)).code).toBe(0);

    await killTmuxServer(socket);
    const after = await run("tmux", ["-L", socket, "has-session", "-t", "t"], env);
    expect(after.code).not.toBe(0);

    // Killing again (no server left) must not throw.
    await expect(killTmuxServer(socket)).resolves.toBeUndefined();
  });
});
