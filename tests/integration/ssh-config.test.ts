/**
 * Issue 18: the user's ssh config is the inventory. A temporary HOME with an ssh config (aliases,
 * an Include, a ProxyJump through a second loopback sshd, IdentityFile, wildcard blocks that are
 * no profiles), a real server over stdio: list_profiles, open by alias through the jump host,
 * edits while the server runs, ad-hoc targets, doctor on that HOME.
 */
import { execFile } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, startHarness, type Harness } from "../support/harness.js";
import { pollUntil } from "../support/poll.js";
import { startSshd, type SshdFixture } from "../support/sshd.js";

const execFileAsync = promisify(execFile);

let h: Harness;
let jump: SshdFixture;
let home: string;
let sshConfig: string;
let knownHosts: string;

interface Row {
  name: string;
  source: { kind: string; file: string | null; line: number | null; overrides?: string };
  host: string;
  user: string | null;
  port: number;
  jump_chain: string[];
  bridge: string;
  identity_files: string[];
  security_mode: string;
  route_steps: number;
  secrets: string[];
  problem: string | null;
}

async function profiles(): Promise<{ rows: Row[]; result: Record<string, unknown> }> {
  const r = await h.call("list_profiles");
  expect(r.ok).toBe(true);
  return { rows: r.profiles as Row[], result: r };
}

function row(rows: Row[], name: string): Row | undefined {
  return rows.find((r) => r.name === name);
}

/** A Host block that logs in to `f` on loopback with its key, strict about its host key (6 lines). */
function hostBlock(name: string, f: SshdFixture): string[] {
  return [
    `Host ${name}`,
    "  HostName 127.0.0.1",
    `  Port ${f.port}`,
    `  User ${f.user}`,
    `  IdentityFile ${f.clientKey}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${knownHosts}`,
  ];
}

function acceptedLogins(f: SshdFixture): number {
  return (readFileSync(join(f.dir, "sshd.log"), "utf8").match(/Accepted publickey/g) ?? []).length;
}

beforeAll(async () => {
  jump = await startSshd();
  home = mkdtempSync(join(tmpdir(), "ssh-mcp-home-"));
  mkdirSync(join(home, ".ssh", "conf.d"), { recursive: true, mode: 0o700 });
  sshConfig = join(home, ".ssh", "config");
  knownHosts = join(home, "known_hosts_lab");
  h = await startHarness({
    env: { HOME: home, SSH_MCP_SSH_CONFIG: "" },
    profiles: (target) => {
      writeFileSync(
        knownHosts,
        readFileSync(target.knownHostsFile, "utf8") + readFileSync(jump.knownHostsFile, "utf8"),
      );
      writeFileSync(
        sshConfig,
        [
          // At the top: an Include under a Host line applies only where that Host matches (as in ssh).
          "Include conf.d/*.conf",
          "",
          "# the jump host",
          ...hostBlock("jump", jump),
          "",
          // Named like a built-in profile: the built-in stays, a note says why.
          "Host lab",
          "  HostName 192.0.2.1",
          "",
          // Connected to by a readonly profiles-file entry of another name: never a profile of its
          // own, nor is the other name on its line, nor another Host reaching the same host and port.
          "Host claimed claimed-too",
          "  HostName 192.0.2.2",
          "",
          "Host twin",
          "  HostName 192.0.2.2",
          "",
          // The same address behind a jump host is another machine: a profile of its own.
          "Host twin-elsewhere",
          "  HostName 192.0.2.2",
          "  ProxyJump jump",
          "",
          // Connected to by a profiles-file entry's `host`.
          "Host hostclaimed",
          "  HostName 192.0.2.3",
          "",
          "Host *.wild !neg.example",
          "  User nobody",
          "",
          "Host *",
          "  ServerAliveInterval 5",
          "",
        ].join("\n"),
      );
      writeFileSync(
        join(home, ".ssh", "conf.d", "target.conf"),
        [
          ...hostBlock("target", target),
          "  ProxyJump jump",
          "",
          "Host target-alias",
          "  HostName 127.0.0.2",
          `  Port ${target.port}`,
          "",
          // ssh -G refuses this one alias (an unknown %-token), not the file.
          "Host bad-token",
          "  HostName a%zb",
          "",
        ].join("\n"),
      );
      return {
        // A profiles-file entry named like a Host overrides it (here: readonly), keeping the alias.
        "target-alias": { security: { mode: "readonly" } },
        "legacy-name": { ssh_config_host: "claimed", security: { mode: "readonly" } },
        "by-host": { host: "hostclaimed", security: { mode: "readonly" } },
      };
    },
  });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await jump?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("ssh config hosts as profiles", () => {
  it("lists every concrete Host with its file:line and what ssh -G resolves; wildcard blocks are no profiles", async () => {
    const { rows, result } = await profiles();
    const target = row(rows, "target");
    expect(target).toMatchObject({
      source: { kind: "ssh_config", file: join(home, ".ssh", "conf.d", "target.conf"), line: 1 },
      host: "127.0.0.1",
      port: h.sshd.port,
      user: h.sshd.user,
      jump_chain: [`${jump.user}@127.0.0.1:${jump.port}`],
      bridge: "native",
      identity_files: [h.sshd.clientKey],
      security_mode: "unrestricted",
      route_steps: 0,
      secrets: [],
      problem: null,
    });
    expect(row(rows, "jump")).toMatchObject({
      source: { kind: "ssh_config", file: sshConfig, line: 4 },
      port: jump.port,
      jump_chain: [],
      problem: null,
    });
    expect(row(rows, "target-alias")).toMatchObject({
      source: { kind: "profiles_file", overrides: `${join(home, ".ssh", "conf.d", "target.conf")}:10` },
      host: "127.0.0.2",
      port: h.sshd.port,
      security_mode: "readonly",
    });
    expect(row(rows, "lab")).toMatchObject({ source: { kind: "builtin" }, host: "127.0.0.1" });
    expect(row(rows, "claimed")).toBeUndefined();
    expect(row(rows, "claimed-too")).toBeUndefined();
    expect(row(rows, "twin")).toBeUndefined();
    expect(row(rows, "twin-elsewhere")).toMatchObject({ host: "192.0.2.2", security_mode: "unrestricted" });
    expect(row(rows, "hostclaimed")).toBeUndefined();
    expect(row(rows, "by-host")).toMatchObject({
      source: { overrides: `${sshConfig}:25` },
      security_mode: "readonly",
    });
    expect(row(rows, "legacy-name")).toMatchObject({
      source: { kind: "profiles_file", overrides: `${sshConfig}:15` },
      host: "192.0.2.2",
      security_mode: "readonly",
    });
    for (const r of rows) expect(r.name).not.toMatch(/[*?!]/);
    expect(row(rows, "neg.example")).toBeUndefined();
    expect(result).toMatchObject({ config_error: null, allow_adhoc_targets: false });
    expect((result.ssh_config as { files: string[] }).files).toEqual([
      sshConfig,
      join(home, ".ssh", "conf.d", "target.conf"),
    ]);
    // In the order ssh reads them: the Include's Hosts first.
    expect(rows.filter((r) => r.source.kind === "ssh_config").map((r) => r.name)).toEqual([
      "target",
      "bad-token",
      "jump",
      "twin-elsewhere",
    ]);
    expect(row(rows, "bad-token")?.problem).toMatch(/ssh -G bad-token failed: .*unknown key %z/);
    const note = (line: number, text: string) =>
      expect.objectContaining({ file: sshConfig, line, info: true, message: expect.stringContaining(text) });
    expect(result.notes).toEqual([
      note(12, "built-in"),
      note(15, "'legacy-name'"),
      note(18, "'legacy-name'"),
    ]);
  });

  it("opens a session by alias through the jump host, and diagnose_profile explains it", async () => {
    const before = acceptedLogins(jump);
    const open = await h.call("open_session", { profile: "target" });
    expect(open.ok).toBe(true);
    const sid = (open.session as { session_id: string; host: string }).session_id;
    expect(open.session).toMatchObject({ host: "127.0.0.1", port: h.sshd.port });
    const r = await h.call("execute_command", { session_id: sid, command: "echo via-$((40+2))" });
    expect(r).toMatchObject({ ok: true, exit_code: 0, output: "via-42\n" });
    // The login went through the jump host's sshd.
    expect(acceptedLogins(jump)).toBeGreaterThan(before);
    await h.call("close_session", { session_id: sid });

    // The alias ssh -G refuses: refused with ssh's words and where the Host is, nothing started.
    const bad = await h.call("open_session", { profile: "bad-token" });
    expect(bad).toMatchObject({ ok: false, code: "CONFIG_ERROR" });
    expect(bad.error).toContain(`${join(home, ".ssh", "conf.d", "target.conf")}:14`);
    expect(bad.error).toContain("unknown key %z");

    const d = await h.call("diagnose_profile", { profile: "target" });
    expect(d.diagnosis).toMatchObject({
      source: `ssh config ${join(home, ".ssh", "conf.d", "target.conf")}:1`,
      ssh_config_host: "target",
      known_hosts: { status: "known" },
      problem: null,
      ssh_config: { hostname: "127.0.0.1", port: h.sshd.port, identity_files: [h.sshd.clientKey] },
    });
  });

  it("edits apply to the next open_session without a restart; a broken edit keeps the last good config", async () => {
    appendFileSync(sshConfig, [...hostBlock("added-later", jump), ""].join("\n"));
    await pollUntil(async () => row((await profiles()).rows, "added-later"), { timeoutMs: 15_000 });
    const open = await h.call("open_session", { profile: "added-later" });
    expect(open.ok).toBe(true);
    const sid = (open.session as { session_id: string }).session_id;
    expect(await h.call("execute_command", { session_id: sid, command: "echo new-alias" })).toMatchObject({
      exit_code: 0,
      output: "new-alias\n",
    });
    await h.call("close_session", { session_id: sid });

    // A line ssh refuses: reported with its file and line, the last good profiles stay listed.
    const lines = readFileSync(sshConfig, "utf8").split("\n").length;
    appendFileSync(sshConfig, "Host broken-one\n  NoSuchOption yes\n");
    const { result, rows } = await pollUntil(
      async () => {
        const p = await profiles();
        return p.result.config_error ? p : undefined;
      },
      { timeoutMs: 15_000 },
    );
    const err = result.config_error as { source: string; message: string };
    expect(err.source).toBe("ssh_config");
    expect(err.message).toContain(`${sshConfig}: line ${lines + 1}`);
    expect(row(rows, "added-later")).toBeDefined();
    expect(row(rows, "broken-one")).toBeUndefined();
    // ssh itself would refuse the file now: opening an alias says why and starts nothing.
    expect(await h.call("open_session", { profile: "added-later" })).toMatchObject({
      ok: false,
      code: "CONFIG_ERROR",
    });

    // Fixed: the error goes, the new alias comes.
    writeFileSync(
      sshConfig,
      readFileSync(sshConfig, "utf8").replace("  NoSuchOption yes\n", "  HostName 127.0.0.1\n"),
    );
    await pollUntil(
      async () => {
        const p = await profiles();
        return p.result.config_error === null && row(p.rows, "broken-one") ? true : undefined;
      },
      { timeoutMs: 15_000 },
    );

    // A broken profiles file: the last good profiles stay in force and usable.
    const good = readFileSync(h.configPath, "utf8");
    writeFileSync(h.configPath, good.replace(/\}\s*$/, ",}"));
    const broken = await pollUntil(
      async () => {
        const p = await profiles();
        return p.result.config_error ? p : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(broken.result.config_error).toMatchObject({ source: "profiles_file" });
    expect((broken.result.config_error as { message: string }).message).toContain(h.configPath);
    expect(row(broken.rows, "target-alias")).toMatchObject({ security_mode: "readonly" });
    const again = await h.call("open_session", { profile: "target" });
    expect(again.ok).toBe(true);
    await h.call("close_session", { session_id: (again.session as { session_id: string }).session_id });
    writeFileSync(h.configPath, good);
    await pollUntil(async () => ((await profiles()).result.config_error === null ? true : undefined), {
      timeoutMs: 15_000,
    });
  });

  it("ad-hoc targets only with the operator's consent, and with strict host keys", async () => {
    const target = `${h.sshd.user}@127.0.0.1:${h.sshd.port}`;
    expect(await h.call("open_session", { target })).toMatchObject({ ok: false, code: "TARGET_NOT_ALLOWED" });
    expect(await h.call("open_session", { target, profile: "target" })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    const good = readFileSync(h.configPath, "utf8");
    writeFileSync(h.configPath, JSON.stringify({ ...JSON.parse(good), allow_adhoc_targets: true }));
    await pollUntil(async () => ((await profiles()).result.allow_adhoc_targets ? true : undefined), {
      timeoutMs: 15_000,
    });
    expect(await h.call("open_session", { target: "-oProxyCommand=x@h" })).toMatchObject({
      ok: false,
      code: "INVALID_ARGUMENT",
    });
    // A configured host goes through its profile (its security mode), never around it.
    for (const [t, owner] of [
      ["claimed", "legacy-name"],
      ["x@CLAIMED", "legacy-name"],
      ["claimed-too", "legacy-name"],
      ["twin", "legacy-name"],
      // The same address however it is spelled (0300 octal is 192), and with no port: ssh's 22.
      ["0300.0.2.2", "legacy-name"],
      ["3221225986", "legacy-name"],
      ["ops@[::ffff:192.0.2.2]:22", "legacy-name"],
      ["hostclaimed", "by-host"],
      ["192.0.2.3", "by-host"],
      ["target", "target"],
    ]) {
      const r = await h.call("open_session", { target: t });
      expect(r, t).toMatchObject({ ok: false, code: "TARGET_NOT_ALLOWED" });
      expect(r.error, t).toContain(`'${owner}'`);
    }
    // The target's address reached directly, not through its jump host, may be another machine:
    // not refused as configured; its key is in no known_hosts file that applies: refused.
    expect(
      await h.call("open_session", { target: `${h.sshd.user}@0x7f000001:${h.sshd.port}` }),
    ).toMatchObject({
      ok: false,
      code: "HOST_KEY_UNKNOWN",
    });
    // Another name for the same sshd: the same.
    expect(await h.call("open_session", { target: `${h.sshd.user}@localhost:${h.sshd.port}` })).toMatchObject(
      {
        ok: false,
        code: "HOST_KEY_UNKNOWN",
      },
    );
    writeFileSync(h.configPath, good);
  });
});

describe("doctor on that HOME", () => {
  it("names the ssh config, each alias with where it goes, and what is wrong in the config", async () => {
    const env = { ...h.env, HOME: home, SSH_MCP_SSH_CONFIG: "" };
    const run = await execFileAsync(process.execPath, [BIN, "doctor"], { env }).catch(
      (err: { stdout: string }) => err,
    );
    const out = run.stdout;
    expect(out).toMatch(
      /ok {3}ssh config: .*\/\.ssh\/config \(\d+ Host alias\(es\) as profiles, 2 file\(s\) read\)/,
    );
    expect(out).toContain(
      `ok   profile target (ssh config ${join(home, ".ssh", "conf.d", "target.conf")}:1): ${h.sshd.user}@127.0.0.1:${h.sshd.port} via jump`,
    );
    expect(out).not.toMatch(/profile \*|profile neg\.example/);

    // An Include loop is named with its file and line, and doctor fails.
    const loop = join(home, ".ssh", "conf.d", "loop.conf");
    writeFileSync(loop, `Include ${loop}\n`);
    try {
      const bad = await execFileAsync(process.execPath, [BIN, "doctor"], { env }).catch(
        (err: { stdout: string; code: number }) => err,
      );
      expect((bad as { code?: number }).code).toBe(1);
      expect(bad.stdout).toMatch(new RegExp(`FAIL .*${loop.replace(/[.]/g, "\\.")}`));
    } finally {
      rmSync(loop);
    }
  });
});
