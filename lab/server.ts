import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";
import * as pty from "node-pty";
import ssh2 from "ssh2";
import type { AuthContext, Connection, ParsedKey, Server as SshServer, ServerChannel, Session } from "ssh2";
import type { LabKeys } from "./keys.js";

/**
 * The lab SSH server (ssh2) whose sessions are real PTYs (node-pty) running the CMSM menu
 * script. The login name picks a misbehaviour: `ops` is the normal bastion, `ops-cr` a menu
 * that only takes CR as Enter, `ops-ansi` a master shell whose prompt is redrawn with ANSI
 * codes. Any session can drop its connection with `lab-drop` (the script prints a private OSC
 * sequence that this server answers by cutting the TCP connection).
 */

const { Server, utils } = ssh2;
const DROP = "\x1b]5379;lab-drop\x07";
/** The server's SSH identification: ssh-mcp checks it before trusting a port to be its lab. */
export const LAB_IDENT = "ssh-mcp-lab";

export const SCRIPTS_DIR = fileURLToPath(new URL("../../lab/scripts/", import.meta.url));

export interface LabOptions {
  host: string;
  port: number;
  dir: string;
  keys: LabKeys;
  password: string;
  log: (line: string) => void;
}

export interface LabServer {
  port: number;
  close(): Promise<void>;
}

export function modeOf(username: string): "" | "cr" | "ansi" {
  if (username.endsWith("-cr")) return "cr";
  if (username.endsWith("-ansi")) return "ansi";
  return "";
}

/** What every connection to the lab shares: its options, the one client key let in, the live terminals. */
interface Lab {
  opts: LabOptions;
  allowed: ParsedKey;
  allowedBlob: Buffer;
  terminals: Set<pty.IPty>;
}

/** One client connection; its login name (the misbehaviour it asked for) is known once it authenticates. */
interface LabConnection {
  client: Connection;
  username: string;
}

interface TermSize {
  cols: number;
  rows: number;
  term: string;
}

/** Only the lab's client key gets in, by public key, with a valid signature. */
function authenticate(lab: Lab, ctx: AuthContext): void {
  const { allowed, allowedBlob } = lab;
  if (ctx.method !== "publickey" || ctx.key.algo !== allowed.type || !ctx.key.data.equals(allowedBlob)) {
    return ctx.reject(["publickey"]);
  }
  if (ctx.signature && ctx.blob && !allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo))
    return ctx.reject();
  ctx.accept();
}

function onConnection(lab: Lab, client: Connection): void {
  const conn: LabConnection = { client, username: "ops" };
  client.on("authentication", (ctx) => {
    conn.username = ctx.username;
    authenticate(lab, ctx);
  });
  client.on("error", () => undefined);
  client.on("ready", () => {
    client.on("session", (acceptSession) => onSession(lab, conn, acceptSession()));
  });
}

/** A session takes a pty (its size and TERM are the menu's), window changes and a shell; exec is refused. */
function onSession(lab: Lab, conn: LabConnection, session: Session): void {
  let size: TermSize = { cols: 120, rows: 40, term: "xterm-256color" };
  let term: pty.IPty | undefined;
  session.on("pty", (accept, _reject, info) => {
    size = { cols: info.cols || 120, rows: info.rows || 40, term: info.term || "xterm-256color" };
    accept?.();
  });
  session.on("window-change", (accept, _reject, info) => {
    term?.resize(Math.max(1, info.cols), Math.max(1, info.rows));
    accept?.();
  });
  session.on("env", (accept) => accept?.());
  session.on("exec", (_accept, reject) => reject?.());
  session.on("shell", (accept) => {
    term = startMenu(lab, conn, accept(), size);
  });
}

/** The CMSM menu script on a real PTY, with only the environment the lab scripts need. */
function spawnMenu(lab: Lab, username: string, size: TermSize): pty.IPty {
  const { dir, password } = lab.opts;
  return pty.spawn("bash", ["--noprofile", "--norc", `${SCRIPTS_DIR}menu.sh`], {
    name: size.term,
    cols: size.cols,
    rows: size.rows,
    cwd: dir,
    env: {
      PATH: `${SCRIPTS_DIR}bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      TERM: size.term,
      HOME: dir,
      LANG: "C.UTF-8",
      LAB_DIR: dir,
      LAB_SCRIPTS: SCRIPTS_DIR,
      LAB_MODE: modeOf(username),
      LAB_PASSWORD: password,
    },
  });
}

function startMenu(lab: Lab, conn: LabConnection, channel: ServerChannel, size: TermSize): pty.IPty {
  const shell = spawnMenu(lab, conn.username, size);
  lab.terminals.add(shell);
  lab.opts.log(`session for ${conn.username} (pid ${shell.pid})`);
  pipeMenu(lab, conn, shell, channel);
  return shell;
}

/** Cuts the TCP connection under the client, as a network failure would (`lab-drop`). */
function dropConnection(lab: Lab, conn: LabConnection): void {
  lab.opts.log(`dropping the connection of ${conn.username} on request`);
  const sock = (conn.client as unknown as { _sock?: Socket })._sock;
  if (sock) sock.destroy();
  else conn.client.end();
}

/** PTY to channel (watching for the drop request) and back; either end closing ends the other. */
function pipeMenu(lab: Lab, conn: LabConnection, shell: pty.IPty, channel: ServerChannel): void {
  shell.onData((data) => {
    const drop = data.indexOf(DROP);
    if (drop !== -1) {
      if (drop > 0) channel.write(data.slice(0, drop));
      dropConnection(lab, conn);
      return;
    }
    channel.write(data);
  });
  shell.onExit(({ exitCode }) => {
    lab.terminals.delete(shell);
    try {
      channel.exit(exitCode);
      channel.end();
    } catch {
      // The client is already gone.
    }
  });
  const decoder = new StringDecoder("utf8");
  channel.on("data", (d: Buffer) => shell.write(decoder.write(d)));
  channel.on("close", () => {
    if (lab.terminals.has(shell)) shell.kill("SIGHUP");
  });
}

function listen(server: SshServer, lab: Lab): Promise<LabServer> {
  const { opts, terminals } = lab;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : opts.port;
      resolve({
        port,
        close: () =>
          new Promise<void>((res) => {
            for (const t of terminals) t.kill("SIGHUP");
            server.close(() => res());
          }),
      });
    });
  });
}

export function startLabServer(opts: LabOptions): Promise<LabServer> {
  const allowed = utils.parseKey(readFileSync(opts.keys.clientPub));
  if (allowed instanceof Error) throw allowed;
  const lab: Lab = { opts, allowed, allowedBlob: allowed.getPublicSSH(), terminals: new Set() };
  const server = new Server({ hostKeys: [readFileSync(opts.keys.hostKey)], ident: LAB_IDENT }, (client) =>
    onConnection(lab, client),
  );
  return listen(server, lab);
}
