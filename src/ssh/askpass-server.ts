import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";

/** Askpass dirs are named after their server's pid: `<prefix><pid>-XXXXXX`. */
const PREFIX = "ssh-mcp-ask-";

/**
 * Serves passphrases and passwords to the askpass helper. Each login gets a token that answers
 * a bounded number of prompts for a bounded time; the secret values are read from the server's
 * environment at the moment they are asked for and written only to the socket.
 */
export interface AskpassGrant {
  token: string;
  env: Record<string, string>;
  revoke(): void;
}

interface Grant {
  passphrase?: string;
  password?: string;
  /**
   * `user@host` whose password prompt alone gets the password (a login through jump hosts: a
   * hop's `ops@bastion's password:` must not get the target's password).
   */
  passwordFor?: string;
  remaining: number;
  expires: number;
}

/**
 * The target's own password prompt, as OpenSSH words it: `user@host's password:` (password
 * authentication), `(user@host) Password:` (keyboard-interactive); or the ssh2 bridge's own
 * `ssh-mcp:password` (it asks for the target only, and connects jump hosts with keys).
 */
function targetPrompt(prompt: string, userAtHost: string): boolean {
  const p = prompt.toLowerCase();
  if (p === "ssh-mcp:password") return true;
  const want = userAtHost.toLowerCase();
  // Whole strings, not a parse: a user name may hold an @ itself (jdoe@corp.example@host).
  if (!want.startsWith("@")) return p === `${want}'s password:` || p === `(${want}) password:`;
  // No user named (ssh decides): any user of that host.
  return (
    (p.endsWith(`${want}'s password:`) && p.length > `${want}'s password:`.length) ||
    (p.startsWith("(") && p.endsWith(`${want}) password:`) && p.length > `(${want}) password:`.length)
  );
}

export class AskpassServer {
  private server: Server | undefined;
  private readonly grants = new Map<string, Grant>();
  readonly socketPath: string;
  readonly scriptPath: string;

  constructor(
    private readonly dir: string,
    private readonly helperJs: string,
  ) {
    this.socketPath = join(dir, "askpass.sock");
    this.scriptPath = join(dir, "askpass.sh");
  }

  async start(): Promise<void> {
    if (this.server) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    rmSync(this.socketPath, { force: true });
    // ssh needs an executable path; the wrapper holds no secret, only the node and helper paths.
    writeFileSync(
      this.scriptPath,
      `#!/bin/sh\nexec '${process.execPath.replace(/'/g, "'\\''")}' '${this.helperJs.replace(/'/g, "'\\''")}' "$@"\n`,
      { mode: 0o700 },
    );
    chmodSync(this.scriptPath, 0o700);
    const server = createServer((sock) => {
      let buf = "";
      sock.setTimeout(5000, () => sock.destroy());
      sock.on("data", (d: Buffer) => {
        buf += d.toString("utf8");
        if (buf.length > 64 * 1024) sock.destroy();
      });
      sock.on("end", () => sock.end(this.answer(buf)));
      sock.on("error", () => undefined);
    });
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(this.socketPath, () => res());
    });
    chmodSync(this.socketPath, 0o600);
    server.unref();
    this.server = server;
  }

  private answer(raw: string): string {
    let req: { token?: unknown; prompt?: unknown };
    try {
      req = JSON.parse(raw) as typeof req;
    } catch {
      return "NO";
    }
    const grant = typeof req.token === "string" ? this.grants.get(req.token) : undefined;
    if (!grant || grant.remaining <= 0 || Date.now() > grant.expires) return "NO";
    grant.remaining--;
    // Classified by the prompt's shape, not by a word anywhere in it: a host named
    // "passphrase-vault" must not turn a password prompt into a passphrase one.
    const prompt = typeof req.prompt === "string" ? req.prompt.trim() : "";
    const secret = /^(Enter passphrase for|ssh-mcp:passphrase$)/i.test(prompt)
      ? grant.passphrase
      : grant.passwordFor !== undefined
        ? targetPrompt(prompt, grant.passwordFor)
          ? grant.password
          : undefined
        : /('s password:|^\(?[^\s]*\)? ?Password:|^ssh-mcp:password)$/i.test(prompt)
          ? grant.password
          : undefined;
    return secret === undefined ? "NO" : `OK ${secret}`;
  }

  grant(
    secrets: { passphrase?: string; password?: string; passwordFor?: string },
    ttlMs = 120_000,
  ): AskpassGrant {
    const token = randomBytes(24).toString("hex");
    this.grants.set(token, { ...secrets, remaining: 4, expires: Date.now() + ttlMs });
    return {
      token,
      env: {
        SSH_ASKPASS: this.scriptPath,
        SSH_ASKPASS_REQUIRE: "force",
        SSH_MCP_ASKPASS_SOCKET: this.socketPath,
        SSH_MCP_ASKPASS_TOKEN: token,
      },
      revoke: () => this.grants.delete(token),
    };
  }

  close(): void {
    this.server?.close();
    this.server = undefined;
    rmSync(this.socketPath, { force: true });
  }
}

/**
 * A private temp dir for this server's askpass socket (unix socket paths are limited to ~107
 * bytes, so not under the runtime dir). Those of servers that are gone are removed in the
 * background (sweepAskpassDirs): a killed server cannot remove its own, and test runs and
 * benchmarks kill many.
 */
export function askpassDir(tmp: string, alive: (pid: number) => boolean): string {
  void sweepAskpassDirs(tmp, alive).catch(() => undefined);
  return mkdtempSync(join(tmp, `${PREFIX}${process.pid}-`));
}

/**
 * Removes the askpass dirs of servers that are gone; returns what it removed. Gone means: the pid
 * in the name is not a live ssh-mcp server, and nothing answers on the dir's socket (a server
 * in another pid namespace sharing /tmp still answers). Only our own uid's real directories.
 * Sessions already logged in never use askpass again, so a dead server's dir serves nobody.
 */
export async function sweepAskpassDirs(tmp: string, alive: (pid: number) => boolean): Promise<string[]> {
  const uid = process.getuid?.();
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(/^ssh-mcp-ask-(\d+)-/.exec(name)?.[1] ?? 0);
    if (!pid || pid === process.pid || alive(pid)) continue;
    const path = join(tmp, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      if (await answers(join(path, "askpass.sock"))) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    sock.once("connect", () => (sock.destroy(), resolve(true)));
    sock.once("error", () => resolve(false));
  });
}
