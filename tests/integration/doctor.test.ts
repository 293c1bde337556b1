import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type SshdFixture } from "../support/sshd.js";
import { uniqueSocket } from "../support/tmux.js";
import { BIN } from "../support/harness.js";
import { freePort } from "../support/lab-harness.js";

/**
 * ssh-mcp doctor against a real sshd: a valid setup passes with no false alarm, and each broken
 * prerequisite fails with its own one-line fix (docs/troubleshooting.md).
 */
let sshd: SshdFixture;
let dir: string;
let notSsh: Server;
let notSshPort: number;
let silent: Server;
let silentPort: number;
const silentConns = new Set<Socket>();

beforeAll(async () => {
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-doctor-"));
  notSsh = createServer((sock) => sock.end("HTTP/1.0 400 Bad Request\r\n\r\n"));
  await new Promise<void>((resolve) => notSsh.listen(0, "127.0.0.1", resolve));
  notSshPort = (notSsh.address() as { port: number }).port;
  // Accepts connections and never says a word.
  silent = createServer((sock) => silentConns.add(sock));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentPort = (silent.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => notSsh.close(resolve));
  for (const sock of silentConns) sock.destroy();
  await new Promise((resolve) => silent.close(resolve));
  await sshd.stop();
  rmSync(dir, { recursive: true, force: true });
});

function profile(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    key_filename: sshd.clientKey,
    known_hosts_file: sshd.knownHostsFile,
    ...extra,
  };
}

let n = 0;
/** A fresh HOME (XDG dirs inside it) with these profiles, and doctor's exit code and output. */
async function doctor(
  profiles: Record<string, Record<string, unknown>> | string | undefined,
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; out: string }> {
  const home = join(dir, `home-${++n}`);
  mkdirSync(join(home, ".config", "ssh-mcp"), { recursive: true });
  if (profiles !== undefined) {
    writeFileSync(
      join(home, ".config", "ssh-mcp", "profiles.json"),
      typeof profiles === "string" ? profiles : JSON.stringify({ profiles }),
    );
  }
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    SSH_MCP_TMUX_SOCKET: uniqueSocket("doc"),
    SSH_MCP_LAB_PORT: String(await freePort()),
    ...opts.env,
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "doctor"], { env, cwd: opts.cwd ?? home }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: stdout }),
    );
  });
}

/** A PATH holding only these commands (links to the real ones). */
function pathWith(...commands: string[]): string {
  const bin = join(dir, `bin-${++n}`);
  mkdirSync(bin);
  for (const c of commands) {
    const real = ["/usr/local/bin", "/usr/bin", "/bin"].map((d) => join(d, c)).find((p) => existsSync(p));
    if (real) symlinkSync(real, join(bin, c));
  }
  return bin;
}

describe("ssh-mcp doctor", () => {
  it("a valid setup: every check passes and exit 0 (nothing is created)", async () => {
    const r = await doctor({
      prod: profile(),
      fresh: profile({ known_hosts_file: join(dir, "none"), auto_add_host_key: true }),
    });
    expect(r.out).not.toMatch(/FAIL/);
    expect(r.out).toMatch(/All checks passed/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`profile prod: 127\\.0\\.0\\.1:${sshd.port} answers SSH-2\\.0-OpenSSH`));
    expect(r.out).toMatch(/profile fresh: known_hosts .* \(created on first connect: auto_add_host_key\)/);
    expect(r.out).toMatch(/lab: port 127\.0\.0\.1:\d+ is free/);
    expect(r.out).toMatch(/viewer \(127\.0\.0\.1:auto\): its pages and xterm\.js are in place/);
    // doctor creates nothing: no runtime directory, no lab started.
    expect(existsSync(join(dir, `home-${n}`, ".local"))).toBe(false);
  });

  it("a config/profiles.json in the working directory is no problem when the per-user file exists", async () => {
    const checkout = join(dir, `checkout-both-${++n}`);
    mkdirSync(join(checkout, "config"), { recursive: true });
    writeFileSync(join(checkout, "config", "profiles.json"), JSON.stringify({ profiles: {} }));
    const r = await doctor({ prod: profile() }, { cwd: checkout });
    expect(r.out).not.toMatch(/is not read/);
    expect(r.code, r.out).toBe(0);
  });

  const broken: {
    name: string;
    profiles?: () => Record<string, Record<string, unknown>> | string;
    env?: () => Record<string, string>;
    cwd?: () => string;
    fail: RegExp;
    fix: string;
  }[] = [
    {
      name: "tmux missing",
      env: () => ({ PATH: pathWith("ssh", "bash") }),
      fail: /tmux: not found/,
      fix: "install or upgrade tmux (apt-get install tmux / brew install tmux)",
    },
    {
      name: "ssh missing",
      env: () => ({ PATH: pathWith("tmux", "bash") }),
      fail: /ssh: not found/,
      fix: "install the OpenSSH client (apt-get install openssh-client)",
    },
    {
      name: "bash missing (the lab)",
      env: () => ({ PATH: pathWith("tmux", "ssh") }),
      fail: /lab: bash not found/,
      fix: "install bash (apt-get install bash / brew install bash)",
    },
    {
      name: "a profiles file that is not JSON",
      profiles: () => "{ not json",
      fail: /config: .*profiles\.json: line 1: not valid JSON/,
      fix: "fix the file named above",
    },
    {
      name: "a key that does not exist",
      profiles: () => ({ prod: profile({ key_filename: "/nonexistent/id_ed25519" }) }),
      fail: /profile prod: key \/nonexistent\/id_ed25519/,
      fix: "fix key_filename or create the key",
    },
    {
      name: "a passphrase variable that is not set",
      profiles: () => ({ prod: profile({ passphrase_env: "DOCTOR_TEST_PASSPHRASE" }) }),
      fail: /profile prod: \$DOCTOR_TEST_PASSPHRASE is not set/,
      fix: "export DOCTOR_TEST_PASSPHRASE in the MCP server's environment",
    },
    {
      name: "strict host keys with no known_hosts file",
      profiles: () => ({ prod: profile({ known_hosts_file: "/nonexistent/known_hosts" }) }),
      fail: /profile prod: known_hosts \/nonexistent\/known_hosts/,
      fix: `ssh-keyscan -p {PORT} 127.0.0.1 >> /nonexistent/known_hosts (after checking the fingerprint)`,
    },
    {
      name: "nothing listening on the profile's port",
      profiles: () => ({ prod: profile({ port: 1 }) }),
      fail: /profile prod: nothing answers on 127\.0\.0\.1:1/,
      fix: "check the profile's host and port, and that sshd runs there and this machine may reach it",
    },
    {
      name: "something that is not SSH on the profile's port",
      profiles: () => ({ prod: profile({ port: -1 }) }),
      fail: /profile prod: 127\.0\.0\.1:\d+ answers, but not as an SSH server \(HTTP\/1\.0 400/,
      fix: "point the profile's port at the SSH server",
    },
    {
      name: "the lab's port taken by another SSH server",
      env: () => ({ SSH_MCP_LAB_PORT: String(sshd.port) }),
      fail: /lab: port 127\.0\.0\.1:\d+ is taken by another SSH server \(SSH-2\.0-OpenSSH/,
      fix: "set SSH_MCP_LAB_PORT to a free port (e.g. SSH_MCP_LAB_PORT=2223)",
    },
    {
      name: "the lab's port held by something that says nothing",
      env: () => ({ SSH_MCP_LAB_PORT: String(silentPort) }),
      fail: /lab: something listens on 127\.0\.0\.1:\d+ but does not greet as an SSH server/,
      fix: "set SSH_MCP_LAB_PORT to a free port (e.g. SSH_MCP_LAB_PORT=2223)",
    },
    {
      name: "a runtime directory under a file",
      env: () => {
        const file = join(dir, `file-${++n}`);
        writeFileSync(file, "");
        return { SSH_MCP_RUNTIME_DIR: join(file, "runtime") };
      },
      fail: /runtime dir: .*file-\d+ is not a directory/,
      fix: "move {FILE} aside, or set another directory",
    },
    {
      name: "a profiles file left where the defaults no longer look (./config/profiles.json)",
      cwd: () => {
        const checkout = join(dir, `checkout-${++n}`);
        mkdirSync(join(checkout, "config"), { recursive: true });
        writeFileSync(join(checkout, "config", "profiles.json"), JSON.stringify({ profiles: {} }));
        return checkout;
      },
      fail: /checkout-\d+\/config\/profiles\.json is not read: profiles are read from .*\.config\/ssh-mcp\/profiles\.json/,
      fix: "mkdir -p {HOME}/.config/ssh-mcp && mv -n {CWD}/config/profiles.json {HOME}/.config/ssh-mcp/profiles.json  (or set SSH_MCP_CONFIG={CWD}/config/profiles.json)",
    },
  ];

  it.each(broken)("$name: FAIL with its fix line, exit 1", async (c) => {
    const given = c.profiles?.();
    const profiles =
      typeof given === "object"
        ? Object.fromEntries(
            Object.entries(given).map(([k, p]) => [k, p.port === -1 ? { ...p, port: notSshPort } : p]),
          )
        : given;
    const cwd = c.cwd?.();
    const r = await doctor(profiles, { env: c.env?.(), cwd });
    expect(r.code, r.out).toBe(1);
    const lines = r.out.split("\n");
    const at = lines.findIndex((l) => l.startsWith("FAIL ") && c.fail.test(l));
    expect(at, r.out).toBeGreaterThanOrEqual(0);
    const home = join(dir, `home-${n}`);
    const want = c.fix
      .replace("{PORT}", String(sshd.port))
      .replaceAll("{HOME}", home)
      .replaceAll("{CWD}", cwd ?? "")
      .replace("{FILE}", /(\/\S*file-\d+)/.exec(lines[at] ?? "")?.[1] ?? "?");
    expect(lines[at + 1]).toBe(`     fix: ${want}`);
    expect(r.out).toMatch(/\d+ problem\(s\) found\./);
  });
});
