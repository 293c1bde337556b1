import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killTmuxServer, uniqueSocket } from "../support/tmux.js";
import { freePort } from "../support/lab-harness.js";

/**
 * The README's quick start, read from the README itself (so the two cannot drift), run on a
 * fresh copy of the repository: no node_modules, no dist, no runtime. Its first command must
 * install, build and walk the whole demo (bastion -> master -> pod -> log search).
 *
 * npm test runs this file on its own, after the other suites: an install that compiles native
 * modules would otherwise load the machine under tests that watch a shell's timing.
 */

const ROOT = resolve(import.meta.dirname, "../..");
let dir: string | undefined;
let socket: string | undefined;

afterAll(async () => {
  if (socket) await killTmuxServer(socket);
  const info = dir ? join(dir, "state", "ssh-mcp", "lab", "lab.json") : "";
  if (info && existsSync(info)) {
    try {
      process.kill((JSON.parse(readFileSync(info, "utf8")) as { pid: number }).pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

/** The commands of the README's quick-start block, comments dropped. */
function quickStart(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  return block
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter(Boolean);
}

describe("the README's quick start on a fresh copy", () => {
  it("names two commands: one that installs and runs the demo, and npm test", () => {
    const [first, second] = quickStart();
    expect(first).toMatch(/^npm install && npm start$/);
    expect(second).toBe("npm test");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.pretest).toMatch(/prerequisites\.sh/);
  });

  it("its first command installs, builds and walks the whole demo", async () => {
    const [first] = quickStart();
    dir = mkdtempSync(join(tmpdir(), "ssh-mcp-quickstart-"));
    const repo = join(dir, "repo");
    // What a clone has: the tracked files, none of what install, build or a run leave behind.
    cpSync(ROOT, repo, {
      recursive: true,
      filter: (src) => !/^(node_modules|dist|runtime|\.git|coverage)(\/|$)/.test(relative(ROOT, src)),
    });
    socket = uniqueSocket("qs");
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? dir,
      // The per-user directories (docs/configuration.md), here inside the test's own directory.
      XDG_STATE_HOME: join(dir, "state"),
      XDG_CONFIG_HOME: join(dir, "config"),
      SSH_MCP_TMUX_SOCKET: socket,
      SSH_MCP_LAB_PORT: String(await freePort()),
      ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
    };
    const { code, out } = await new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn("bash", ["-c", first as string], {
        cwd: repo,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      child.stdout.on("data", (d: Buffer) => (text += d.toString()));
      child.stderr.on("data", (d: Buffer) => (text += d.toString()));
      child.on("close", (c) => done({ code: c, out: text }));
    });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/CrashLoopBackOff/);
    expect(out).toMatch(/Search the pod's logs/);
    expect(out).toMatch(/var\/log\/app\/payment\.log:1: .*gateway_timeout/);
    expect(out).toMatch(/tmux -L \S+ attach -t \S+/);
    // Installing printed no engine warning (Node 20 is enough).
    expect(out).not.toMatch(/EBADENGINE/);
    // The run kept its files in the per-user state directory, none in the checkout.
    expect(existsSync(join(dir, "state", "ssh-mcp", "instances"))).toBe(true);
    expect(existsSync(join(repo, "runtime", "instances"))).toBe(false);
  }, 900_000);

  it("installed with npm install -g, the ssh-mcp command runs from any directory", async () => {
    const prefix = mkdtempSync(join(tmpdir(), "ssh-mcp-prefix-"));
    const elsewhere = mkdtempSync(join(tmpdir(), "ssh-mcp-elsewhere-"));
    try {
      const run = (cmd: string, args: string[], cwd: string) =>
        new Promise<{ code: number | null; out: string }>((done) => {
          const child = spawn(cmd, args, { cwd, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
          let text = "";
          child.stdout.on("data", (d: Buffer) => (text += d.toString()));
          child.stderr.on("data", (d: Buffer) => (text += d.toString()));
          child.on("close", (c) => done({ code: c, out: text }));
        });
      const installed = await run("npm", ["install", "-g", "--prefix", prefix, ROOT], elsewhere);
      expect(installed.code, installed.out).toBe(0);
      const help = await run(join(prefix, "bin", "ssh-mcp"), ["--help"], elsewhere);
      expect(help.code).toBe(0);
      expect(help.out).toMatch(/^ssh-mcp - persistent interactive SSH terminals/);
      const attach = await run(join(prefix, "bin", "ssh-mcp"), ["attach", "nosuch-2"], elsewhere);
      expect(attach.code).toBe(1);
      expect(attach.out).toMatch(/No ssh-mcp session 'nosuch-2'/);
      // From the checkout, npx finds the package's own bin without installing anything.
      const npx = await run("npx", ["--no-install", "ssh-mcp", "--help"], ROOT);
      expect(npx.code, npx.out).toBe(0);
      expect(npx.out).toMatch(/^ssh-mcp - persistent interactive SSH terminals/);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
