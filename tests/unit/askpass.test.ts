import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { askpassDir, AskpassServer, sweepAskpassDirs } from "../../src/ssh/askpass-server.js";
import { createServer } from "node:net";

const HELPER = resolve("dist/ssh/askpass.js");
const PASSPHRASE_PROMPT = "Enter passphrase for key '/x':";
const PASSWORD_PROMPT = "root@127.0.0.1's password:";
const HOSTKEY_PROMPT =
  "The authenticity of host '[127.0.0.1]:2222 ([127.0.0.1]:2222)' can't be established.\n" +
  "ED25519 key fingerprint is SHA256:abc.\nAre you sure you want to continue connecting (yes/no/[fingerprint])?";

let dir: string;
let server: AskpassServer;

beforeAll(async () => {
  // A space in the directory checks that the wrapper script and socket path need no quoting help.
  dir = mkdtempSync(join(tmpdir(), "sshmcp askpass-"));
  server = new AskpassServer(join(dir, "rt"), HELPER);
  await server.start();
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

interface Run {
  code: number;
  stdout: string;
}

/** Runs the askpass wrapper as ssh would: the prompt as argv[1], the grant in the environment. */
function askpass(prompt: string, env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((res, rej) => {
    execFile(
      server.scriptPath,
      [prompt],
      { env: { ...process.env, ...env }, encoding: "utf8" },
      (err, stdout) => {
        if (!err) res({ code: 0, stdout });
        else if (typeof err.code === "number") res({ code: err.code, stdout });
        else rej(err);
      },
    );
  });
}

describe("AskpassServer + askpass helper", () => {
  it("a grant's environment is the askpass wiring only (no DISPLAY, no secret)", () => {
    const g = server.grant({ passphrase: "pp-secret", password: "pw-secret" });
    expect(Object.keys(g.env).sort()).toEqual([
      "SSH_ASKPASS",
      "SSH_ASKPASS_REQUIRE",
      "SSH_MCP_ASKPASS_SOCKET",
      "SSH_MCP_ASKPASS_TOKEN",
    ]);
    expect(g.env.SSH_ASKPASS).toBe(server.scriptPath);
    expect(g.env.SSH_ASKPASS_REQUIRE).toBe("force");
    expect(g.env.SSH_MCP_ASKPASS_TOKEN).toBe(g.token);
    expect(JSON.stringify(g.env)).not.toMatch(/pp-secret|pw-secret/);
    g.revoke();
  });

  it("answers a passphrase prompt with the granted passphrase", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    expect(await askpass(PASSPHRASE_PROMPT, g.env)).toEqual({ code: 0, stdout: "pp-secret\n" });
    g.revoke();
  });

  it("answers a password prompt with the granted password, not the passphrase", async () => {
    const g = server.grant({ passphrase: "pp-secret", password: "pw secret with spaces" });
    expect(await askpass(PASSWORD_PROMPT, g.env)).toEqual({ code: 0, stdout: "pw secret with spaces\n" });
    g.revoke();
  });

  it("through jump hosts, gives the password only to the target's own user@host prompt", async () => {
    const g = server.grant({ password: "pw-target", passwordFor: "deploy@db.internal" });
    expect(await askpass("ops@bastion.example's password: ", g.env)).toEqual({ code: 1, stdout: "" });
    expect(await askpass("Password: ", g.env)).toEqual({ code: 1, stdout: "" });
    expect(await askpass("deploy@db.internal's password: ", g.env)).toEqual({
      code: 0,
      stdout: "pw-target\n",
    });
    g.revoke();
  });

  it("with no user named, any user of the target host; still never another host", async () => {
    const g = server.grant({ password: "pw-target", passwordFor: "@db.internal" });
    expect(await askpass("me@db.internal's password: ", g.env)).toEqual({ code: 0, stdout: "pw-target\n" });
    expect(await askpass("me@bastion's password: ", g.env)).toEqual({ code: 1, stdout: "" });
    g.revoke();
  });

  it("refuses a wrong token", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    const env = { ...g.env, SSH_MCP_ASKPASS_TOKEN: "0".repeat(48) };
    expect(await askpass(PASSPHRASE_PROMPT, env)).toEqual({ code: 1, stdout: "" });
    g.revoke();
  });

  it("refuses after revoke", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    expect((await askpass(PASSPHRASE_PROMPT, g.env)).code).toBe(0);
    g.revoke();
    expect(await askpass(PASSPHRASE_PROMPT, g.env)).toEqual({ code: 1, stdout: "" });
  });

  it("never answers a prompt that asks for neither passphrase nor password (e.g. a host key yes/no)", async () => {
    const g = server.grant({ passphrase: "pp-secret", password: "pw-secret" });
    expect(await askpass(HOSTKEY_PROMPT, g.env)).toEqual({ code: 1, stdout: "" });
    expect(await askpass("", g.env)).toEqual({ code: 1, stdout: "" });
    g.revoke();
  });

  it("refuses a password prompt when only a passphrase was granted", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    expect(await askpass(PASSWORD_PROMPT, g.env)).toEqual({ code: 1, stdout: "" });
    g.revoke();
  });

  it("answers a bounded number of prompts per grant", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await askpass(PASSPHRASE_PROMPT, g.env)).code);
    expect(codes).toEqual([0, 0, 0, 0, 1]);
    g.revoke();
  });

  it("refuses an expired grant", async () => {
    const g = server.grant({ passphrase: "pp-secret" }, -1);
    expect(await askpass(PASSPHRASE_PROMPT, g.env)).toEqual({ code: 1, stdout: "" });
  });

  it("exits 1 without its environment", async () => {
    const g = server.grant({ passphrase: "pp-secret" });
    const noToken = { ...g.env, SSH_MCP_ASKPASS_TOKEN: undefined };
    expect(await askpass(PASSPHRASE_PROMPT, noToken)).toEqual({ code: 1, stdout: "" });
    const noSocket = { ...g.env, SSH_MCP_ASKPASS_SOCKET: join(dir, "missing.sock") };
    expect(await askpass(PASSPHRASE_PROMPT, noSocket)).toEqual({ code: 1, stdout: "" });
    g.revoke();
  });

  it("keeps secrets out of the grant env and the wrapper script; files are private", () => {
    const g = server.grant({ passphrase: "pp-secret", password: "pw-secret" });
    const envText = JSON.stringify(g.env);
    expect(envText).not.toContain("pp-secret");
    expect(envText).not.toContain("pw-secret");
    expect(g.env.SSH_ASKPASS).toBe(server.scriptPath);
    expect(g.env.SSH_ASKPASS_REQUIRE).toBe("force");
    expect(g.token).toMatch(/^[0-9a-f]{48}$/);
    expect(server.grant({}).token).not.toBe(g.token);
    const script = readFileSync(server.scriptPath, "utf8");
    expect(script).not.toContain("pp-secret");
    expect(script).toContain(HELPER);
    expect(statSync(server.scriptPath).mode & 0o777).toBe(0o700);
    expect(statSync(server.socketPath).mode & 0o777).toBe(0o600);
    g.revoke();
  });
});

describe("askpassDir", () => {
  it("removes the askpass dirs of servers that are gone, and only those", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "ssh-mcp-asktmp-"));
    const listening = createServer();
    try {
      const dead = join(tmp, "ssh-mcp-ask-999991-AbCdEf");
      const live = join(tmp, "ssh-mcp-ask-999992-GhIjKl");
      // A dead-looking pid whose socket answers: a server in another pid namespace.
      const answering = join(tmp, "ssh-mcp-ask-999993-StUvWx");
      const unnamed = join(tmp, "ssh-mcp-ask-MnOpQr"); // an older server's: no pid to judge by
      const other = join(tmp, "something-else-999991");
      for (const d of [dead, live, answering, unnamed, other]) {
        mkdirSync(d);
        writeFileSync(join(d, "askpass.sh"), "#!/bin/sh\n");
      }
      await new Promise<void>((r) => listening.listen(join(answering, "askpass.sock"), r));
      const removed = await sweepAskpassDirs(tmp, (pid) => pid === 999992);
      expect(removed).toEqual([dead]);
      expect(existsSync(dead)).toBe(false);
      expect([live, answering, unnamed, other].every((d) => existsSync(d))).toBe(true);
      const mine = askpassDir(tmp, () => true);
      expect(mine.startsWith(join(tmp, `ssh-mcp-ask-${process.pid}-`))).toBe(true);
      expect(readdirSync(tmp)).toHaveLength(5);
    } finally {
      listening.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
