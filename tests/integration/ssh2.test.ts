import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../support/poll.js";
import { baseProfile, cmdlinesContaining, startHarness, type Harness } from "../support/harness.js";
import { startPasswordServer } from "../support/password-server.js";

/** bridge: "ssh2" against the real sshd: keys, encrypted key, agent, host keys, jump host. */

let h: Harness;
let agent: ChildProcess | undefined;
let agentSock = "";
const PASS_ENV = "SSH2_TEST_PASSPHRASE";

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => {
      const ssh2 = (extra: Record<string, unknown> = {}) => baseProfile(sshd, { bridge: "ssh2", ...extra });
      return {
        key: ssh2(),
        encrypted: ssh2({ key_filename: sshd.encryptedKey, passphrase_env: PASS_ENV }),
        agent: ssh2({ key_filename: undefined, allow_agent: true }),
        mismatch: ssh2({ known_hosts_file: sshd.wrongKnownHostsFile }),
        mismatch_autoadd: ssh2({ known_hosts_file: sshd.wrongKnownHostsFile, auto_add_host_key: true }),
        unknown: ssh2({ known_hosts_file: sshd.emptyKnownHostsFile }),
        accept_new: ssh2({
          known_hosts_file: join(sshd.dir, "ssh2_new_known_hosts"),
          auto_add_host_key: true,
        }),
        jump: ssh2({ proxy_jump: `${sshd.user}@127.0.0.1:${sshd.port}` }),
      };
    },
  });
  // A real ssh-agent holding the (unencrypted) client key.
  agentSock = join(h.dir, "agent.sock");
  agent = spawn("ssh-agent", ["-D", "-a", agentSock], { stdio: "ignore" });
  await pollUntil(() => {
    try {
      return readdirSync(h.dir).includes("agent.sock");
    } catch {
      return false;
    }
  });
  execFileSync("ssh-add", [h.sshd.clientKey], {
    env: { ...process.env, SSH_AUTH_SOCK: agentSock },
    stdio: "ignore",
  });
  await h.restartClient({ [PASS_ENV]: h.sshd.passphrase, SSH_AUTH_SOCK: agentSock });
});

afterAll(async () => {
  agent?.kill();
  await h?.close();
});

async function openAndRun(profile: string): Promise<Record<string, unknown>> {
  const r = await h.call("open_session", { profile });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  const sid = (r.session as { session_id: string; bridge: string }).session_id;
  expect((r.session as { bridge: string }).bridge).toBe("ssh2");
  const e = await h.call("execute_command", { session_id: sid, command: "echo via-ssh2; false" });
  expect(e).toMatchObject({ ok: true, output: "via-ssh2\n", exit_code: 1 });
  return r;
}

describe("ssh2 bridge", () => {
  it("logs in with a key and runs exact commands", async () => {
    await openAndRun("key");
  });

  it("an encrypted key through passphrase_env; the passphrase is on no command line", async () => {
    let r: Record<string, unknown> = {};
    const seen = await cmdlinesContaining(h.sshd.passphrase, async () => {
      r = await openAndRun("encrypted");
    });
    expect(seen).toEqual([]);
    expect(JSON.stringify(r)).not.toContain(h.sshd.passphrase);
  });

  it("logs in through ssh-agent", async () => {
    await openAndRun("agent");
  });

  it("goes through a jump host", async () => {
    await openAndRun("jump");
  });

  it("refuses a changed host key (also with accept-new) and an unknown one, naming both fingerprints", async () => {
    const m = await h.call("open_session", { profile: "mismatch" });
    expect(m).toMatchObject({ ok: false, code: "HOST_KEY_MISMATCH" });
    expect(JSON.stringify(m)).toMatch(/known SHA256:\S+, offered SHA256:/);
    expect(await h.call("open_session", { profile: "mismatch_autoadd" })).toMatchObject({
      code: "HOST_KEY_MISMATCH",
    });
    expect(await h.call("open_session", { profile: "unknown" })).toMatchObject({ code: "HOST_KEY_UNKNOWN" });
  });

  it("accept-new records a new host key, then trusts it", async () => {
    await openAndRun("accept_new");
    const kh = readFileSync(join(h.sshd.dir, "ssh2_new_known_hosts"), "utf8");
    expect(kh).toContain(`[127.0.0.1]:${h.sshd.port} ssh-ed25519 `);
    await openAndRun("accept_new");
    expect(readFileSync(join(h.sshd.dir, "ssh2_new_known_hosts"), "utf8")).toBe(kh);
  });

  it("password auth (password and keyboard-interactive) from password_env, never on a command line", async () => {
    const pw = "pw-" + Math.random().toString(36).slice(2);
    const srv = await startPasswordServer(h.dir, pw);
    try {
      const cfg = JSON.parse(readFileSync(h.configPath, "utf8")) as { profiles: Record<string, unknown> };
      cfg.profiles.password = {
        host: "127.0.0.1",
        port: srv.port,
        username: "anyone",
        password_env: "SSH2_TEST_PASSWORD",
        known_hosts_file: srv.knownHosts,
        allow_agent: false,
        look_for_keys: false,
        bridge: "ssh2",
      };
      writeFileSync(h.configPath, JSON.stringify(cfg));
      await h.restartClient({
        [PASS_ENV]: h.sshd.passphrase,
        SSH_AUTH_SOCK: agentSock,
        SSH2_TEST_PASSWORD: pw,
      });
      const r = await openAndRun("password");
      expect(JSON.stringify(r)).not.toContain(pw);
      const t = await h.call("get_transcript", {
        session_id: (r.session as { session_id: string }).session_id,
        tail: 1000,
      });
      expect(readFileSync(t.transcript_path as string, "utf8")).not.toContain(pw);
      await h.restartClient({
        [PASS_ENV]: h.sshd.passphrase,
        SSH_AUTH_SOCK: agentSock,
        SSH2_TEST_PASSWORD: "wrong",
      });
      expect(await h.call("open_session", { profile: "password" })).toMatchObject({
        ok: false,
        code: "AUTH_FAILED",
      });
    } finally {
      await srv.close();
    }
  });
});
