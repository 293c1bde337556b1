import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/** A private OpenSSH sshd on a free loopback port with temp keys, for `ssh-mcp bench`. */
export interface BenchSshd {
  port: number;
  user: string;
  key: string;
  knownHosts: string;
  dir: string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.setTimeout(500, () => (sock.destroy(), resolve(false)));
    sock.on("data", (d: Buffer) => (sock.destroy(), resolve(d.toString().startsWith("SSH-2.0"))));
    sock.on("error", () => resolve(false));
  });
}

export async function startBenchSshd(): Promise<BenchSshd> {
  const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-bench-sshd-"));
  const keygen = (f: string): void => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", f]);
  };
  keygen(join(dir, "host"));
  keygen(join(dir, "client"));
  // A HOME of its own for the sessions: the machine user's dotfiles (pyenv, conda...) would time
  // their own start-up, not ssh-mcp.
  mkdirSync(join(dir, "home"), { mode: 0o700 });
  writeFileSync(
    join(dir, "authorized_keys"),
    `environment="HOME=${join(dir, "home")}" ${readFileSync(join(dir, "client.pub"), "utf8")}`,
  );
  if (process.getuid?.() === 0) mkdirSync("/run/sshd", { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${join(dir, "host")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PermitRootLogin yes",
      "PermitUserEnvironment yes",
      "PasswordAuthentication no",
      "PrintMotd no",
      "PrintLastLog no",
      "MaxStartups 300:30:600",
      "MaxSessions 300",
      "",
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: "ignore" });
  const deadline = Date.now() + 10_000;
  while (!(await banner(port))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error("bench: could not start /usr/sbin/sshd (is openssh-server installed?)");
    await new Promise((r) => setTimeout(r, 50));
  }
  const [type, blob] = readFileSync(join(dir, "host.pub"), "utf8").trim().split(/\s+/);
  writeFileSync(join(dir, "known_hosts"), `[127.0.0.1]:${port} ${type} ${blob}\n`);
  return {
    port,
    user: userInfo().username,
    key: join(dir, "client"),
    knownHosts: join(dir, "known_hosts"),
    dir,
    stop: () => {
      child.kill();
      // A shell still exiting may write its history into home/ while this runs: retry.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
}
