/**
 * Test support: an ssh2 SSH server that accepts only a password or keyboard-interactive
 * answer and runs real bash in PTYs, for the ssh2 bridge's password auth tests.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pty from "node-pty";
import ssh2 from "ssh2";

/**
 * An SSH server (ssh2) that takes only a password or keyboard-interactive answer, with real bash
 * shells in PTYs: for testing the ssh2 bridge's password auth without a system account.
 */
export async function startPasswordServer(
  dir: string,
  password: string,
): Promise<{ port: number; knownHosts: string; close: () => Promise<void> }> {
  const hostKey = join(dir, "pw_host_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  const terms = new Set<pty.IPty>();
  const server = new ssh2.Server({ hostKeys: [readFileSync(hostKey)] }, (client) => {
    client.on("error", () => undefined);
    client.on("authentication", (ctx) => {
      if (ctx.method === "password" && ctx.password === password) return ctx.accept();
      if (ctx.method === "keyboard-interactive") {
        return ctx.prompt([{ prompt: "Password: ", echo: false }], (answers) =>
          answers[0] === password ? ctx.accept() : ctx.reject(),
        );
      }
      ctx.reject(["keyboard-interactive", "password"]);
    });
    client.on("ready", () =>
      client.on("session", (accept) => {
        const session = accept();
        let size = { cols: 120, rows: 40 };
        session.on("pty", (a, _r, info) => {
          size = { cols: info.cols, rows: info.rows };
          a?.();
        });
        session.on("shell", (a) => {
          const ch = a();
          const t = pty.spawn("bash", ["--norc", "--noprofile"], {
            ...size,
            env: { PATH: process.env.PATH ?? "", PS1: "pw$ ", TERM: "xterm" },
          });
          terms.add(t);
          t.onData((d) => ch.write(d));
          t.onExit(({ exitCode }) => {
            terms.delete(t);
            ch.exit(exitCode);
            ch.end();
          });
          ch.on("data", (d: Buffer) => t.write(d.toString("utf8")));
        });
      }),
    );
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
  const [type, blob] = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/);
  const knownHosts = join(dir, "pw_known_hosts");
  execFileSync("sh", [
    "-c",
    `printf '%s\\n' "$1" > "$2"`,
    "sh",
    `[127.0.0.1]:${port} ${type} ${blob}`,
    knownHosts,
  ]);
  return {
    port,
    knownHosts,
    close: () =>
      new Promise<void>((res) => {
        for (const t of terms) t.kill();
        server.close(() => res());
      }),
  };
}
