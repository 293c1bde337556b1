import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import ssh2 from "ssh2";
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import { hostSpec, knownKeys } from "./known-hosts.js";

/**
 * The ssh2 bridge (`ssh-mcp bridge`): runs inside the tmux pane in place of `ssh -tt`, connects
 * with the ssh2 client, and pipes the pane's raw terminal to a remote PTY of the window's size.
 * It speaks like OpenSSH where ssh-mcp reads the pane (the same one-line reasons), and exits
 * with a distinct status: 65 auth failure, 66 changed host key, 67 unknown host key, 255
 * transport lost, else the remote shell's status. Secrets come from the MCP server over the
 * askpass socket (the token is in the environment, the secret never is).
 */
export interface BridgeProfile {
  host: string;
  port: number;
  username?: string;
  key_filename?: string;
  passphrase: boolean;
  password: boolean;
  allow_agent: boolean;
  look_for_keys: boolean;
  auto_add_host_key: boolean;
  known_hosts_file?: string;
  term: string;
  keepalive_interval: number;
  connect_timeout: number;
  proxy_jump?: string;
}

function ttyOutputProcessing(on: boolean): void {
  try {
    execFileSync("stty", [on ? "opost" : "-opost"], { stdio: ["inherit", "ignore", "ignore"] });
  } catch {
    // Not a terminal after all: nothing to change.
  }
}

export const EXIT = { auth: 65, hostKeyChanged: 66, hostKeyUnknown: 67, transport: 255 } as const;

function say(line: string): void {
  process.stderr.write(line + "\r\n");
}

/** Asks the MCP server for a secret over the askpass socket (see askpass-server.ts). */
function askSecret(prompt: string): Promise<string | undefined> {
  const socketPath = process.env.SSH_MCP_ASKPASS_SOCKET;
  const token = process.env.SSH_MCP_ASKPASS_TOKEN;
  if (!socketPath || !token) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    const chunks: Buffer[] = [];
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on("connect", () => sock.end(JSON.stringify({ token, prompt }) + "\n"));
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", () => resolve(undefined));
    sock.on("close", () => {
      const reply = Buffer.concat(chunks).toString("utf8");
      resolve(reply.startsWith("OK ") ? reply.slice(3) : undefined);
    });
  });
}

export function fingerprint(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

function keyType(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** Decides on a server's host key; prints OpenSSH's words and sets the exit status when refused. */
export function verifyHostKey(
  p: { host: string; port: number; auto_add_host_key: boolean; known_hosts_file?: string },
  blob: Buffer,
  fail: (status: number) => void,
): boolean {
  const file = p.known_hosts_file ?? join(homedir(), ".ssh", "known_hosts");
  const spec = hostSpec(p.host, p.port);
  const type = keyType(blob);
  const texts = [file, "/etc/ssh/ssh_known_hosts"]
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f, "utf8"));
  if (texts.some((t) => knownKeys(t, spec, "@revoked").some((k) => k.blob.equals(blob)))) {
    say(`The host key offered by ${spec} (${fingerprint(blob)}) is marked @revoked.`);
    say("Host key verification failed.");
    fail(EXIT.hostKeyChanged);
    return false;
  }
  const known = texts.flatMap((t) => knownKeys(t, spec));
  if (known.some((k) => k.blob.equals(blob))) return true;
  // Any known key for this host that is not the offered one is a change, whatever its type:
  // accept-new must never add a second key beside a known one.
  const sameType = known.filter((k) => k.type === type).length ? known.filter((k) => k.type === type) : known;
  if (sameType.length) {
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @");
    say("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@");
    say(
      `Host key for ${spec} has changed: known ${fingerprint(sameType[0]!.blob)}, offered ${fingerprint(blob)}.`,
    );
    say("Host key verification failed.");
    fail(EXIT.hostKeyChanged);
    return false;
  }
  if (p.auto_add_host_key) {
    // accept-new: a host never seen before is recorded; a changed key never gets here.
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    appendFileSync(file, `${spec} ${type} ${blob.toString("base64")}\n`, { mode: 0o600 });
    say(`Warning: Permanently added '${spec}' (${type}) to the list of known hosts.`);
    return true;
  }
  say(`No ${type} host key is known for ${spec} and you have requested strict checking.`);
  say("Host key verification failed.");
  fail(EXIT.hostKeyUnknown);
  return false;
}

async function authConfig(p: BridgeProfile): Promise<Partial<ConnectConfig>> {
  const cfg: Partial<ConnectConfig> = { username: p.username ?? userInfo().username };
  const keyPath =
    p.key_filename ??
    (p.look_for_keys
      ? ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(homedir(), ".ssh", k)).find((k) => existsSync(k))
      : undefined);
  if (keyPath && existsSync(keyPath)) {
    const key = readFileSync(keyPath);
    cfg.privateKey = key;
    const parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error && /passphrase|encrypted/i.test(parsed.message) && p.passphrase) {
      cfg.passphrase = await askSecret("ssh-mcp:passphrase");
    }
    // An encrypted key nobody can open is left out (ssh2 would throw), so the agent still gets its turn.
    if (parsed instanceof Error && cfg.passphrase === undefined) delete cfg.privateKey;
  }
  if (p.allow_agent && process.env.SSH_AUTH_SOCK) cfg.agent = process.env.SSH_AUTH_SOCK;
  if (p.password) {
    const password = await askSecret("ssh-mcp:password");
    if (password !== undefined) {
      cfg.password = password;
      cfg.tryKeyboard = true;
    }
  }
  return cfg;
}

function parseJump(spec: string): { host: string; port: number; username?: string } {
  const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(spec);
  return {
    host: (m?.[2] ?? spec).replace(/^\[|\]$/g, ""),
    port: Number(m?.[3] ?? 22),
    ...(m?.[1] ? { username: m[1] } : {}),
  };
}

type BridgeError = Error & { level?: string };

/** A status decided before the connection ends: a refused host key or jump host, or the shell's exit. */
interface ExitState {
  status: number | undefined;
}

function connectConfig(
  p: BridgeProfile,
  host: string,
  port: number,
  fail: (status: number) => void,
): ConnectConfig {
  return {
    host,
    port,
    readyTimeout: p.connect_timeout * 1000,
    keepaliveInterval: p.keepalive_interval * 1000,
    keepaliveCountMax: 3,
    hostVerifier: (key: Buffer) => verifyHostKey({ ...p, host, port }, key, fail),
  };
}

/**
 * keyboard-interactive: the password answers password prompts only (an OTP or "Verification
 * code" prompt gets nothing and fails the login, which is what should happen).
 */
function keyboardAnswers(auth: Partial<ConnectConfig>) {
  return (
    _n: string,
    _i: string,
    _l: string,
    prompts: { prompt: string }[],
    finish: (answers: string[]) => void,
  ): void =>
    finish(
      prompts.map((p) =>
        /pass(word|code)?\s*:?\s*$/i.test(p.prompt) && typeof auth.password === "string" ? auth.password : "",
      ),
    );
}

/** Says why the connection to the target failed, in OpenSSH's words, and returns the exit status. */
function reportClientError(err: BridgeError, p: BridgeProfile, auth: Partial<ConnectConfig>): number {
  if (err.level === "client-authentication") {
    say(
      `${auth.username}@${p.host}: Permission denied (${p.password ? "publickey,password" : "publickey"}).`,
    );
    return EXIT.auth;
  }
  if (/ECONNREFUSED/.test(err.message))
    say(`ssh: connect to host ${p.host} port ${p.port}: Connection refused`);
  else if (/Timed out|ETIMEDOUT/i.test(err.message))
    say(`ssh: connect to host ${p.host} port ${p.port}: Connection timed out`);
  else if (/keepalive/i.test(err.message)) say(`Timeout, server ${p.host} not responding.`);
  else say(`ssh: ${err.message}`);
  return EXIT.transport;
}

/**
 * Raw mode for the pane's terminal while the remote PTY owns it. libuv's raw mode keeps ONLCR:
 * without -opost every \n from the remote PTY would gain a second \r. ssh -tt does the same
 * (cfmakeraw).
 */
function rawTerminal(on: boolean): void {
  if (!process.stdin.isTTY) return;
  process.stdin.setRawMode(on);
  ttyOutputProcessing(!on);
}

/** The pane's raw terminal to the remote channel and back, and the pane's resizes to the remote PTY. */
function pipeTerminal(stream: ClientChannel): void {
  rawTerminal(true);
  process.stdin.on("data", (d: Buffer) => stream.write(d));
  process.stdout.on("resize", () => stream.setWindow(process.stdout.rows, process.stdout.columns, 0, 0));
  const decoder = new StringDecoder("utf8");
  stream.on("data", (d: Buffer) => process.stdout.write(decoder.write(d)));
  stream.stderr.on("data", (d: Buffer) => process.stderr.write(d));
}

/** A remote PTY of the pane's size with a shell on it; resolves with the shell's status when it closes. */
function openShell(
  client: Client,
  p: BridgeProfile,
  state: ExitState,
  resolve: (code: number) => void,
): void {
  const cols = process.stdout.columns || 120;
  const rows = process.stdout.rows || 40;
  client.shell({ term: p.term, cols, rows }, (err, stream: ClientChannel) => {
    if (err) {
      say(`ssh: could not open a shell: ${err.message}`);
      return resolve(EXIT.transport);
    }
    pipeTerminal(stream);
    stream.on("exit", (code: number | null) => {
      state.status = code ?? 0;
    });
    stream.on("close", () => {
      say(`Connection to ${p.host} closed.`);
      client.end();
      resolve(state.status ?? 0);
    });
  });
}

/** The bridge's exit status, once the connection fails, closes, or its shell ends. */
function untilExit(
  client: Client,
  p: BridgeProfile,
  auth: Partial<ConnectConfig>,
  state: ExitState,
): Promise<number> {
  return new Promise<number>((resolve) => {
    client.on("error", (err: BridgeError) => {
      if (state.status !== undefined) return resolve(state.status);
      resolve(reportClientError(err, p, auth));
    });
    client.on("close", () => resolve(state.status ?? EXIT.transport));
    client.on("ready", () => openShell(client, p, state, resolve));
  });
}

/**
 * proxy_jump: the target's connection runs in a channel forwarded by the jump host; a jump host
 * failure sets the status and closes the target's client.
 */
function connectViaJump(
  client: Client,
  p: BridgeProfile,
  jumpSpec: string,
  auth: Partial<ConnectConfig>,
  fail: (status: number) => void,
): void {
  const j = parseJump(jumpSpec);
  const jump = new ssh2.Client();
  jump.on("error", (err: BridgeError) => {
    say(
      err.level === "client-authentication"
        ? `${j.username ?? auth.username}@${j.host}: Permission denied (publickey).`
        : `ssh: jump host ${j.host}: ${err.message}`,
    );
    fail(err.level === "client-authentication" ? EXIT.auth : EXIT.transport);
    client.emit("close");
  });
  jump.on("ready", () => {
    jump.forwardOut("127.0.0.1", 0, p.host, p.port, (err, sock) => {
      if (err) {
        say(`ssh: jump host ${j.host} cannot reach ${p.host}:${p.port}: ${err.message}`);
        fail(EXIT.transport);
        return client.emit("close");
      }
      client.connect({ ...connectConfig(p, p.host, p.port, fail), ...auth, sock });
    });
  });
  // The target's password is for the target: the jump host gets keys and the agent only.
  const { password: _pw, tryKeyboard: _kb, ...jumpAuth } = auth;
  jump.connect({
    ...connectConfig(p, j.host, j.port, fail),
    ...jumpAuth,
    ...(j.username ? { username: j.username } : {}),
  });
}

export async function runBridge(p: BridgeProfile): Promise<number> {
  const state: ExitState = { status: undefined };
  const fail = (s: number): void => {
    state.status ??= s;
  };
  const auth = await authConfig(p);
  const client = new ssh2.Client();
  client.on("keyboard-interactive", keyboardAnswers(auth));
  const done = untilExit(client, p, auth, state);
  if (p.proxy_jump) connectViaJump(client, p, p.proxy_jump, auth, fail);
  else client.connect({ ...connectConfig(p, p.host, p.port, fail), ...auth });
  const code = await done;
  rawTerminal(false);
  return code;
}
