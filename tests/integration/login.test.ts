import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseProfile, startHarness, type Harness } from "../support/harness.js";

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? files(join(dir, d.name)) : d.isFile() ? [join(dir, d.name)] : [],
  );
}

/** The argv of every process we can read, as single strings. */
function allCmdlines(): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        return [readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")];
      } catch {
        return [];
      }
    });
}

function environOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8");
  } catch {
    return "";
  }
}

let h: Harness;
const PASSPHRASE_ENV = "TEST_KEY_PASSPHRASE";

beforeAll(async () => {
  h = await startHarness({
    profiles: (sshd) => {
      const otherKey = join(sshd.dir, "unauthorized_ed25519");
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
      return {
        good: baseProfile(sshd),
        mismatch: baseProfile(sshd, { known_hosts_file: sshd.wrongKnownHostsFile }),
        mismatch_autoadd: baseProfile(sshd, {
          known_hosts_file: sshd.wrongKnownHostsFile,
          auto_add_host_key: true,
        }),
        unknown: baseProfile(sshd, { known_hosts_file: sshd.emptyKnownHostsFile }),
        autoadd: baseProfile(sshd, {
          known_hosts_file: join(sshd.dir, "new_known_hosts"),
          auto_add_host_key: true,
        }),
        missing_key: baseProfile(sshd, { key_filename: join(sshd.dir, "no-such-key") }),
        refused_auth: baseProfile(sshd, { key_filename: otherKey }),
        refused_conn: baseProfile(sshd, { port: 1 }),
        encrypted: baseProfile(sshd, { key_filename: sshd.encryptedKey, passphrase_env: PASSPHRASE_ENV }),
        encrypted_unset: baseProfile(sshd, {
          key_filename: sshd.encryptedKey,
          passphrase_env: "UNSET_PASSPHRASE_VAR",
        }),
        // The fixture sshd doubles as its own jump host.
        jump: baseProfile(sshd, { proxy_jump: `${sshd.user}@127.0.0.1:${sshd.port}` }),
        jump_unknown: baseProfile(sshd, {
          proxy_jump: `${sshd.user}@127.0.0.1:${sshd.port}`,
          known_hosts_file: sshd.emptyKnownHostsFile,
        }),
      };
    },
    env: {},
  });
  // The passphrase only exists in the server's environment (as an MCP client config would set it).
  await h.restartClient({ [PASSPHRASE_ENV]: h.sshd.passphrase });
});

afterAll(async () => {
  await h?.close();
});

const open = (profile: string) => h.call("open_session", { profile });

describe("open_session failures are clear errors, not hangs", () => {
  it("refuses a changed host key", async () => {
    const r = await open("mismatch");
    expect(r).toMatchObject({ ok: false, code: "HOST_KEY_MISMATCH" });
    expect(r.error).toMatch(/ssh-keygen -R/);
  });

  it("refuses a changed host key even with auto_add_host_key", async () => {
    expect(await open("mismatch_autoadd")).toMatchObject({ ok: false, code: "HOST_KEY_MISMATCH" });
  });

  it("refuses an unknown host key under strict checking", async () => {
    const r = await open("unknown");
    expect(r).toMatchObject({ ok: false, code: "HOST_KEY_UNKNOWN" });
    expect(r.error).toMatch(/auto_add_host_key/);
  });

  it("reports a missing key file", async () => {
    expect(await open("missing_key")).toMatchObject({ ok: false, code: "KEY_NOT_FOUND" });
  });

  it("reports refused authentication", async () => {
    const r = await open("refused_auth");
    expect(r).toMatchObject({ ok: false, code: "AUTH_FAILED" });
    expect(r.error).toMatch(/authorized_keys/);
  });

  it("reports a refused connection", async () => {
    expect(await open("refused_conn")).toMatchObject({ ok: false, code: "CONNECTION_FAILED" });
  });

  it("reports an unset passphrase variable by name", async () => {
    const r = await open("encrypted_unset");
    expect(r).toMatchObject({ ok: false, code: "SECRET_MISSING" });
    expect(r.error).toContain("UNSET_PASSPHRASE_VAR");
  });

  it("reports an unknown profile with the available ones", async () => {
    const r = await open("nope");
    expect(r).toMatchObject({ ok: false, code: "UNKNOWN_PROFILE" });
    expect(r.error).toContain("good");
  });

  it("failed opens leave no session behind", async () => {
    const list = await h.call("list_sessions");
    expect(list.sessions).toEqual([]);
  });
});

describe("successful logins", () => {
  it("accepts a new host key with auto_add_host_key and records it", async () => {
    const r = await open("autoadd");
    expect(r.ok).toBe(true);
    // Debian hashes known_hosts entries; ssh-keygen -F finds them either way.
    const found = execFileSync(
      "ssh-keygen",
      ["-F", `[127.0.0.1]:${h.sshd.port}`, "-f", join(h.sshd.dir, "new_known_hosts")],
      { encoding: "utf8" },
    );
    expect(found).toMatch(/ssh-ed25519/);
    await h.call("close_session", { session_id: (r.session as { session_id: string }).session_id });
  });

  it("opens with a passphrase-protected key and the passphrase is nowhere but the server's memory", async () => {
    const secret = h.sshd.passphrase;
    const seen: string[] = [];
    let scanning = true;
    const scan = (async () => {
      while (scanning) {
        for (const c of allCmdlines()) if (c.includes(secret)) seen.push(c);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const r = await open("encrypted");
    scanning = false;
    await scan;
    expect(r.ok).toBe(true);
    const sid = (r.session as { session_id: string }).session_id;
    const e = await h.call("execute_command", { session_id: sid, command: "echo via-encrypted-key" });
    expect(e.output).toBe("via-encrypted-key\n");
    expect(seen).toEqual([]);
    expect(JSON.stringify(r)).not.toContain(secret);
    // Not in any file the server wrote (transcripts, log, server_meta, askpass wrapper).
    for (const f of files(h.runtimeDir)) expect(readFileSync(f, "utf8"), f).not.toContain(secret);
    // Not in the environment of any process but the server itself (tmux, ssh, shell, tap).
    const metas = files(h.runtimeDir)
      .filter((f) => f.endsWith("server_meta.json"))
      .map((f) => JSON.parse(readFileSync(f, "utf8")) as { pid: number; started_at: string })
      .sort((a, b) => a.started_at.localeCompare(b.started_at));
    const serverPid = String(metas[metas.length - 1]?.pid);
    const leaking = (): string[] =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p) && p !== serverPid && p !== String(process.pid))
        .filter((p) => environOf(p).includes(secret));
    // A child the server is forking shows the server's environment until its exec (tmux calls
    // run all the time, and a loaded machine can hold one before its exec for a while): such a
    // pid clears within moments, a real leak stays. Leaking = the same pid in two looks 300 ms
    // apart, until none is (a new fork between two looks is another pid).
    const persistent = async (): Promise<string[]> => {
      const first = new Set(leaking());
      await new Promise((r) => setTimeout(r, 300));
      return leaking().filter((p) => first.has(p));
    };
    let stuck = await persistent();
    for (let tries = 0; stuck.length && tries < 15; tries++) stuck = await persistent();
    const cmdline = (p: string): string => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 200);
      } catch {
        return "(gone)";
      }
    };
    expect(stuck.map((p) => `${p}: ${cmdline(p)}`)).toEqual([]);
    const tmuxEnv = execFileSync("tmux", ["-L", h.socket, "show-environment", "-g"], { encoding: "utf8" });
    expect(tmuxEnv).not.toContain(secret);
  });

  it("goes through a jump host with the same host key checking", async () => {
    const r = await open("jump");
    expect(r.ok).toBe(true);
    const sid = (r.session as { session_id: string }).session_id;
    expect((await h.call("execute_command", { session_id: sid, command: "echo via-jump" })).output).toBe(
      "via-jump\n",
    );
    await h.call("close_session", { session_id: sid });
    // An unknown jump host is refused, not left waiting at a yes/no question.
    const ju = await open("jump_unknown");
    expect(ju, JSON.stringify(ju)).toMatchObject({ ok: false, code: "HOST_KEY_UNKNOWN" });
  });

  it("works with a transcripts directory whose path has '#' and spaces", async () => {
    const odd = join(h.dir, "tr #1 dir");
    await h.restartClient({ [PASSPHRASE_ENV]: h.sshd.passphrase, SSH_MCP_TRANSCRIPTS_DIR: odd });
    const r = await open("good");
    expect(r.ok).toBe(true);
    const s = r.session as { session_id: string; transcript_path: string };
    expect(s.transcript_path.startsWith(odd)).toBe(true);
    await h.call("execute_command", { session_id: s.session_id, command: "echo hash-ok" });
    expect(readFileSync(s.transcript_path, "utf8")).toContain('"dir":"recv"');
    await h.call("close_session", { session_id: s.session_id });
    await h.restartClient({ [PASSPHRASE_ENV]: h.sshd.passphrase });
  });

  it("diagnose_profile checks without connecting and never shows a secret", async () => {
    const d = await h.call("diagnose_profile", { profile: "encrypted" });
    expect(d.ok).toBe(true);
    expect(d.diagnosis).toMatchObject({
      key: { exists: true, readable: true, type: "ED25519", encrypted: true },
      passphrase_env: { name: PASSPHRASE_ENV, set: true },
      known_hosts: { status: "known" },
      security: { mode: "unrestricted", redact_transcripts: true },
    });
    expect(JSON.stringify(d)).not.toContain(h.sshd.passphrase);
    const u = await h.call("diagnose_profile", { profile: "unknown" });
    expect(u.diagnosis).toMatchObject({ known_hosts: { status: "unknown (login will be refused)" } });
    const m = await h.call("diagnose_profile", { profile: "missing_key" });
    expect(m.diagnosis).toMatchObject({ key: { exists: false } });
    const g = await h.call("diagnose_profile", { profile: "good" });
    expect(g.diagnosis).toMatchObject({ key: { encrypted: false } });
  });

  it("creates the runtime layout with private permissions", async () => {
    const inst = readdirSync(join(h.runtimeDir, "instances"));
    expect(inst.length).toBeGreaterThan(0);
    const dir = join(h.runtimeDir, "instances", inst[inst.length - 1] as string);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const meta = JSON.parse(readFileSync(join(dir, "server_meta.json"), "utf8"));
    for (const k of [
      "server_instance_id",
      "pid",
      "cwd",
      "started_at",
      "client_label",
      "viewer_base_url",
      "log_path",
      "transcripts_dir",
      "config_path",
      "tmux_socket",
    ]) {
      expect(meta).toHaveProperty(k);
    }
    expect(statSync(join(dir, "server_meta.json")).mode & 0o777).toBe(0o600);
    for (const f of files(join(dir, "transcripts"))) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(meta.log_path).mode & 0o777).toBe(0o600);
  });

  it("doctor passes a valid profiles file with no false alarms: accept-new host keys, the lab's on-demand key", async () => {
    const doctorConfig = join(h.dir, "doctor-profiles.json");
    writeFileSync(
      doctorConfig,
      JSON.stringify({
        profiles: {
          fresh: {
            host: "127.0.0.1",
            port: h.sshd.port,
            key_filename: h.sshd.clientKey,
            known_hosts_file: join(h.dir, "not-yet-known_hosts"),
            auto_add_host_key: true,
          },
        },
      }),
    );
    const run = (config: string): { code: number; out: string } => {
      try {
        const out = execFileSync(
          process.execPath,
          [join(import.meta.dirname, "../../dist/cli.js"), "doctor"],
          {
            env: { ...h.env, SSH_MCP_CONFIG: config },
            encoding: "utf8",
          },
        );
        return { code: 0, out };
      } catch (err) {
        return {
          code: (err as { status?: number }).status ?? -1,
          out: String((err as { stdout?: string }).stdout),
        };
      }
    };
    const ok = run(doctorConfig);
    expect(ok.out).toMatch(/All checks passed/);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/created on first connect/);
    // Strict checking with no known_hosts file is a real problem, with its fix.
    writeFileSync(
      doctorConfig,
      JSON.stringify({
        profiles: {
          strict: {
            host: "127.0.0.1",
            port: h.sshd.port,
            known_hosts_file: join(h.dir, "not-yet-known_hosts"),
          },
        },
      }),
    );
    const bad = run(doctorConfig);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAIL profile strict: known_hosts[\s\S]*fix: ssh-keyscan/);
  });

  it("ssh-mcp attach of an unknown session says so in plain words", () => {
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [join(import.meta.dirname, "../../dist/cli.js"), "attach", "nosuch-1"], {
        env: { ...h.env },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(1);
    expect(err.stderr).toMatch(/^No ssh-mcp session 'nosuch-1' on tmux socket '.+'\. ssh-mcp ls lists/);
  });

  it("doctor reports a broken profiles file clearly", async () => {
    writeFileSync(h.configPath, "{ not json");
    const out = (() => {
      try {
        return execFileSync(process.execPath, [join(import.meta.dirname, "../../dist/cli.js"), "doctor"], {
          env: { ...h.env },
          encoding: "utf8",
        });
      } catch (err) {
        return String((err as { stdout?: string }).stdout);
      }
    })();
    expect(out).toMatch(/profiles\.json: line \d+: not valid JSON/);
  });
});
