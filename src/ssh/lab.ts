import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LabRef } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * Starts the built-in lab on demand: when nothing answers on its port, `dist/lab/main.js` is
 * spawned detached (it outlives this server, like the sessions that use it) and we wait until it
 * greets with its own SSH identification. Another SSH server on that port is reported, never
 * trusted.
 */

/** The lab server's entry point (built from lab/ into dist/lab/). */
export const LAB_MAIN = fileURLToPath(new URL("../lab/main.js", import.meta.url));
const LAB_IDENT = "ssh-mcp-lab";

/** The SSH identification line of whatever listens on host:port, or undefined if nothing does. */
export function sshBanner(host: string, port: number, timeoutMs = 1500): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let data = "";
    const done = (v: string | undefined): void => {
      sock.destroy();
      resolve(v);
    };
    // Connected but silent: something listens there (an empty banner), not nothing.
    sock.setTimeout(timeoutMs, () => done(sock.connecting ? undefined : data.trim()));
    sock.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      const nl = data.indexOf("\n");
      if (nl !== -1) done(data.slice(0, nl).trim());
    });
    sock.on("error", () => done(undefined));
    sock.on("close", () => done(data ? data.trim() : undefined));
  });
}

function ownLab(lab: LabRef): boolean {
  try {
    const info = JSON.parse(readFileSync(join(lab.dir, "lab.json"), "utf8")) as {
      pid?: number;
      port?: number;
    };
    if (info.port !== lab.port || !info.pid) return false;
    process.kill(info.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What listens on the lab's port: nothing, this runtime directory's lab, or something else. */
export type LabPortState =
  | { kind: "free" }
  | { kind: "ours" }
  | { kind: "other-lab" }
  | { kind: "other-ssh"; banner: string }
  /** Something accepts connections there but says nothing (yet: the lab itself while it starts). */
  | { kind: "silent" };

export async function labPortState(lab: LabRef): Promise<LabPortState> {
  const banner = await sshBanner(lab.host, lab.port);
  if (banner === undefined) return { kind: "free" };
  if (banner === "") return { kind: "silent" };
  if (!banner.includes(LAB_IDENT)) return { kind: "other-ssh", banner };
  // It must be OUR lab (this runtime directory): another checkout's lab has other keys.
  return ownLab(lab) ? { kind: "ours" } : { kind: "other-lab" };
}

/** `env` must already be free of secrets and of TMUX/TMUX_PANE (see labEnv). */
export async function ensureLab(
  lab: LabRef,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  timeoutMs = 15_000,
): Promise<void> {
  const ready = async (): Promise<boolean> => {
    const state = await labPortState(lab);
    if (state.kind === "other-ssh") {
      throw new SshMcpError(
        "CONNECTION_FAILED",
        `Port ${lab.port} is taken by another SSH server (${state.banner}), not the ssh-mcp lab. Set SSH_MCP_LAB_PORT to a free port and restart the server.`,
      );
    }
    if (state.kind === "other-lab") {
      throw new SshMcpError(
        "CONNECTION_FAILED",
        `Port ${lab.port} is served by an ssh-mcp lab of another runtime directory. Set SSH_MCP_LAB_PORT to a free port (or use that directory) and restart the server.`,
      );
    }
    return state.kind === "ours" && existsSync(join(lab.dir, "known_hosts"));
  };
  if (await ready()) return;
  mkdirSync(lab.dir, { recursive: true, mode: 0o700 });
  const logPath = join(lab.dir, "lab.log");
  const log = openSync(logPath, "a", 0o600);
  logger.info("starting the built-in lab", { port: lab.port, dir: lab.dir });
  const child = spawn(
    process.execPath,
    [LAB_MAIN, "--host", lab.host, "--port", String(lab.port), "--dir", lab.dir],
    { detached: true, stdio: ["ignore", log, log], env },
  );
  child.unref();
  closeSync(log);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready()) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = existsSync(logPath)
    ? readFileSync(logPath, "utf8").trim().split("\n").slice(-5).join("\n")
    : "";
  throw new SshMcpError(
    "CONNECTION_FAILED",
    `The built-in lab did not start on 127.0.0.1:${lab.port}: ${tail || "no output"}. Run \`ssh-mcp lab\` to see why, or set SSH_MCP_LAB_PORT.`,
  );
}

/**
 * The lab's environment: an allowlist (it is a long-lived detached process; it must not carry
 * the server's secrets or anything else it does not need).
 */
export function labEnv(env: NodeJS.ProcessEnv, secretNames: string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || secretNames.includes(k)) continue;
    if (
      /^(PATH|HOME|USER|LOGNAME|LANG|LC_[A-Z]+|TZ|TMPDIR|SSH_MCP_LAB_PASSWORD|SSH_MCP_LAB_PORT|SSH_MCP_RUNTIME_DIR)$/.test(
        k,
      )
    ) {
      out[k] = v;
    }
  }
  return out;
}
