import { execFileSync, spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { nativeSshArgv, proxyCommand } from "../../src/ssh/native.js";

function profile(fields: Record<string, unknown>, keepalive = 30): Profile {
  const p = profileSchema.parse(fields);
  return { ...p, host: p.host ?? "", name: "t", keepalive_interval: p.keepalive_interval ?? keepalive };
}

/** The values of every `-o` option, as a map. */
function options(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  argv.forEach((a, i) => {
    if (a === "-o") {
      const kv = argv[i + 1] ?? "";
      const eq = kv.indexOf("=");
      m.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
  });
  return m;
}

/** The value following a flag such as -i, -J, -p, -l. */
function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i === -1 ? undefined : argv[i + 1];
}

const base = { connectTimeout: 15, askpass: false };

/**
 * The argv ssh runs for a ProxyCommand: %-tokens expanded as ssh does (%% is a literal %), then
 * the command split into words by a real sh, as ssh's `$SHELL -c "exec ..."` would.
 */
function proxyArgv(command: string, host = "target.example", port = "22"): string[] {
  const expanded = command.replace(/%(.)/g, (t, c: string) =>
    c === "%" ? "%" : c === "h" ? host : c === "p" ? port : t,
  );
  const out = execFileSync("sh", ["-c", `set -- ${expanded}; printf '%s\\0' "$@"`], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

/** The ProxyCommand of an argv, split into the jump ssh's own argv. */
function jumpArgv(argv: string[]): string[] {
  const pc = options(argv).get("ProxyCommand");
  expect(pc, "no ProxyCommand").toBeDefined();
  return proxyArgv(pc ?? "");
}

/** What ssh itself makes of an argv (`ssh -G` prints the resulting configuration). */
function sshG(args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync("ssh", ["-G", ...args], {
    encoding: "utf8",
    env: { ...process.env, HOME: "/nonexistent" },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe("nativeSshArgv", () => {
  it("defaults: ssh -tt, strict host key checking, keepalive, BatchMode, port and host last", () => {
    const argv = nativeSshArgv(profile({ host: "example.com" }), base);
    expect(argv.slice(0, 2)).toEqual(["ssh", "-tt"]);
    const o = options(argv);
    expect(o.get("StrictHostKeyChecking")).toBe("yes");
    expect(o.get("ServerAliveInterval")).toBe("30");
    expect(o.get("ServerAliveCountMax")).toBe("3");
    expect(o.get("ConnectTimeout")).toBe("15");
    expect(o.get("BatchMode")).toBe("yes");
    expect(o.get("PasswordAuthentication")).toBe("no");
    expect(o.has("UserKnownHostsFile")).toBe(false);
    expect(o.has("IdentitiesOnly")).toBe(false);
    expect(o.has("IdentityAgent")).toBe(false);
    expect(argv).not.toContain("-i");
    expect(argv).not.toContain("-J");
    expect(argv).not.toContain("-l");
    expect(argv.slice(-4)).toEqual(["-p", "22", "--", "example.com"]);
  });

  it("auto_add_host_key accepts new keys only (accept-new, never 'no')", () => {
    const o = options(nativeSshArgv(profile({ host: "h", auto_add_host_key: true }), base));
    expect(o.get("StrictHostKeyChecking")).toBe("accept-new");
  });

  it("passes known_hosts_file as UserKnownHostsFile, quoted when it holds whitespace", () => {
    const plain = options(nativeSshArgv(profile({ host: "h", known_hosts_file: "/tmp/kh" }), base));
    expect(plain.get("UserKnownHostsFile")).toBe("/tmp/kh");
    const spaced = options(nativeSshArgv(profile({ host: "h", known_hosts_file: "/a b/kh" }), base));
    expect(spaced.get("UserKnownHostsFile")).toBe('"/a b/kh"');
    const tabbed = options(nativeSshArgv(profile({ host: "h", known_hosts_file: "/a\tb/kh" }), base));
    expect(tabbed.get("UserKnownHostsFile")).toBe('"/a\tb/kh"');
    const quoted = options(nativeSshArgv(profile({ host: "h", known_hosts_file: '/a "b"/kh' }), base));
    expect(quoted.get("UserKnownHostsFile")).toBe('"/a \\"b\\"/kh"');
  });

  // The OpenSSH client is a requirement (README; scripts/prerequisites.sh checks it): never skipped.
  it.each(["/tmp/my  kh", "/tmp/plain/kh", '/tmp/q"uote/kh', "/tmp/o'brien/kh", "/tmp/it's  here/kh"])(
    "ssh reads known_hosts_file %j back as exactly that one path",
    (path) => {
      const argv = nativeSshArgv(profile({ host: "h", known_hosts_file: path }), base);
      const r = sshG(argv.slice(2));
      expect(r.err).not.toMatch(/invalid quotes|Bad configuration/i);
      expect(r.status).toBe(0);
      expect(r.out.split("\n")).toContain(`userknownhostsfile ${path}`);
    },
  );

  it("takes ServerAliveInterval from keepalive_interval", () => {
    expect(options(nativeSshArgv(profile({ host: "h" }, 7), base)).get("ServerAliveInterval")).toBe("7");
    const explicit = profile({ host: "h", keepalive_interval: 0 });
    expect(options(nativeSshArgv(explicit, base)).get("ServerAliveInterval")).toBe("0");
  });

  it("with an askpass helper: no BatchMode, one password prompt", () => {
    const o = options(nativeSshArgv(profile({ host: "h" }), { connectTimeout: 5, askpass: true }));
    expect(o.has("BatchMode")).toBe(false);
    expect(o.get("NumberOfPasswordPrompts")).toBe("1");
  });

  it("allows password authentication only when password_env is set", () => {
    const o = options(nativeSshArgv(profile({ host: "h", password_env: "PW" }), { ...base, askpass: true }));
    expect(o.has("PasswordAuthentication")).toBe(false);
    expect(o.has("KbdInteractiveAuthentication")).toBe(false);
  });

  it("key file with -i, IdentitiesOnly when look_for_keys is false, no agent when allow_agent is false", () => {
    const argv = nativeSshArgv(
      profile({ host: "h", key_filename: "/keys/id_ed25519", look_for_keys: false, allow_agent: false }),
      base,
    );
    expect(flag(argv, "-i")).toBe("/keys/id_ed25519");
    const o = options(argv);
    expect(o.get("IdentitiesOnly")).toBe("yes");
    expect(o.get("IdentityAgent")).toBe("none");
  });

  it("a single jump host becomes a ProxyCommand (no -J), the target keeps its port and username", () => {
    const argv = nativeSshArgv(
      profile({ host: "10.0.0.5", port: 2222, username: "ops", proxy_jump: "jump@bastion:2200" }),
      base,
    );
    expect(argv).not.toContain("-J");
    expect(flag(argv, "-p")).toBe("2222");
    expect(flag(argv, "-l")).toBe("ops");
    expect(argv.slice(-2)).toEqual(["--", "10.0.0.5"]);
    expect(argv.indexOf("--")).toBeGreaterThan(argv.findIndex((a) => a.startsWith("ProxyCommand=")));
    expect(jumpArgv(argv)).toEqual([
      "ssh",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "ConnectTimeout=15",
      "-o",
      "BatchMode=yes",
      "-o",
      "PasswordAuthentication=no",
      "-o",
      "KbdInteractiveAuthentication=no",
      "-o",
      "ServerAliveInterval=30",
      "-p",
      "2200",
      "-l",
      "jump",
      "-W",
      "[target.example]:22",
      "--",
      "bastion",
    ]);
  });

  it("quotes every word of the ProxyCommand and leaves only [%h]:%p unquoted", () => {
    const pc = proxyCommand(profile({ host: "h", proxy_jump: "jump@bastion:2200" }), base);
    expect(pc[0]).toBe("-o");
    const words = (pc[1] ?? "").replace(/^ProxyCommand=/, "").split(" ");
    expect(words).toContain("[%h]:%p");
    for (const w of words.filter((x) => x !== "[%h]:%p")) expect(w).toMatch(/^'[^']*'$/);
  });

  it("gives the jump host the same trust and auth options: strict checking, known hosts, BatchMode, key", () => {
    const p = profile({
      host: "h",
      known_hosts_file: "/etc/ssh mcp/known_hosts",
      key_filename: "/keys/id ed25519",
      look_for_keys: false,
      allow_agent: false,
      proxy_jump: "bastion",
    });
    const jump = jumpArgv(nativeSshArgv(p, base));
    const o = options(jump);
    expect(o.get("StrictHostKeyChecking")).toBe("yes");
    expect(o.get("BatchMode")).toBe("yes");
    expect(o.get("UserKnownHostsFile")).toBe('"/etc/ssh mcp/known_hosts"');
    expect(o.get("ConnectTimeout")).toBe("15");
    expect(o.get("IdentitiesOnly")).toBe("yes");
    expect(o.get("IdentityAgent")).toBe("none");
    expect(o.get("PasswordAuthentication")).toBe("no");
    expect(flag(jump, "-i")).toBe("/keys/id ed25519");
    expect(jump).not.toContain("-p");
    expect(jump).not.toContain("-l");
    expect(jump.slice(-4)).toEqual(["-W", "[target.example]:22", "--", "bastion"]);
    // The jump ssh only forwards (-W): no terminal.
    expect(jump).not.toContain("-tt");
  });

  it("follows the profile: accept-new and askpass on the jump host too", () => {
    const p = profile({ host: "h", auto_add_host_key: true, password_env: "PW", proxy_jump: "u@j" });
    const o = options(jumpArgv(nativeSshArgv(p, { connectTimeout: 4, askpass: true })));
    expect(o.get("StrictHostKeyChecking")).toBe("accept-new");
    expect(o.has("BatchMode")).toBe(false);
    expect(o.get("NumberOfPasswordPrompts")).toBe("1");
    expect(o.get("ConnectTimeout")).toBe("4");
    expect(o.has("PasswordAuthentication")).toBe(false);
  });

  it("doubles a literal % in the ProxyCommand so ssh's token expansion gives it back", () => {
    const p = profile({
      host: "h",
      known_hosts_file: "/kh/100%/known",
      key_filename: "/k/%d",
      proxy_jump: "j",
    });
    const pc = options(nativeSshArgv(p, base)).get("ProxyCommand") ?? "";
    expect(pc).toContain("100%%");
    const jump = jumpArgv(nativeSshArgv(p, base));
    expect(options(jump).get("UserKnownHostsFile")).toBe("/kh/100%/known");
    expect(flag(jump, "-i")).toBe("/k/%d");
  });

  it("keeps a key path with a single quote one word in the ProxyCommand", () => {
    const jump = jumpArgv(
      nativeSshArgv(profile({ host: "h", key_filename: "/k/o'brien key", proxy_jump: "j" }), base),
    );
    expect(flag(jump, "-i")).toBe("/k/o'brien key");
  });

  it("reads an IPv6 jump host in brackets", () => {
    const jump = jumpArgv(nativeSshArgv(profile({ host: "h", proxy_jump: "me@[fd00::1]:2200" }), base));
    expect(flag(jump, "-p")).toBe("2200");
    expect(flag(jump, "-l")).toBe("me");
    expect(jump.at(-1)).toBe("fd00::1");
  });

  it("keeps -J for a comma list of jump hosts, and adds no ProxyCommand", () => {
    const argv = nativeSshArgv(profile({ host: "h", proxy_jump: "a@one:22,two" }), base);
    expect(flag(argv, "-J")).toBe("a@one:22,two");
    expect(options(argv).has("ProxyCommand")).toBe(false);
    expect(proxyCommand(profile({ host: "h" }), base)).toEqual([]);
  });

  it("falls back to -J for a jump spec it cannot read", () => {
    const argv = nativeSshArgv(profile({ host: "h", proxy_jump: "u@host:notaport" }), base);
    expect(flag(argv, "-J")).toBe("u@host:notaport");
    expect(options(argv).has("ProxyCommand")).toBe(false);
  });

  it("understands an ssh:// URI jump host (as -J does): user ops, port 2222, host bastion", () => {
    const argv = nativeSshArgv(profile({ host: "h", proxy_jump: "ssh://ops@bastion:2222" }), base);
    if (flag(argv, "-J") !== undefined) {
      expect(flag(argv, "-J")).toBe("ssh://ops@bastion:2222");
      return;
    }
    const jump = jumpArgv(argv);
    expect(flag(jump, "-l")).toBe("ops");
    expect(flag(jump, "-p")).toBe("2222");
    expect(jump.at(-1)).toBe("bastion");
  });

  it("ssh accepts the whole argv and the jump host's argv (ssh -G)", () => {
    const p = profile({
      host: "10.0.0.5",
      port: 2222,
      username: "ops",
      known_hosts_file: "/tmp/my  kh",
      key_filename: "/keys/id",
      proxy_jump: "jump@bastion:2200",
    });
    const argv = nativeSshArgv(p, base);
    const main = sshG(argv.slice(2));
    expect(main.err).not.toMatch(/Bad configuration|invalid quotes|unknown/i);
    expect(main.status).toBe(0);
    const lines = main.out.split("\n");
    expect(lines).toContain("port 2222");
    expect(lines).toContain("user ops");
    expect(lines).toContain("batchmode yes");
    expect(lines).toContain("stricthostkeychecking true");
    expect(lines.find((l) => l.startsWith("proxycommand "))).toContain("'-W' [%h]:%p '--' 'bastion'");
    const jump = jumpArgv(argv);
    const j = sshG(jump.slice(1));
    expect(j.err).not.toMatch(/Bad configuration|invalid quotes|unknown/i);
    expect(j.status).toBe(0);
    const jl = j.out.split("\n");
    expect(jl).toContain("hostname bastion");
    expect(jl).toContain("port 2200");
    expect(jl).toContain("user jump");
    expect(jl).toContain("userknownhostsfile /tmp/my  kh");
    expect(jl).toContain("batchmode yes");
  });

  it("uses ssh_config_host as the destination and leaves port to ~/.ssh/config", () => {
    const argv = nativeSshArgv(profile({ host: "ignored.example", ssh_config_host: "prod-web" }), base);
    expect(argv.slice(-2)).toEqual(["--", "prod-web"]);
    expect(argv).not.toContain("ignored.example");
    expect(argv).not.toContain("-p");
    const withUser = nativeSshArgv(profile({ host: "x", ssh_config_host: "prod", username: "me" }), base);
    expect(flag(withUser, "-l")).toBe("me");
    expect(withUser.at(-1)).toBe("prod");
  });

  it("puts '--' before a destination that looks like an option", () => {
    const argv = nativeSshArgv(profile({ host: "-oProxyCommand=touch /tmp/pwned" }), base);
    expect(argv.at(-2)).toBe("--");
    expect(argv.at(-1)).toBe("-oProxyCommand=touch /tmp/pwned");
  });

  describe("secrets", () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const k of ["SSHMCP_TEST_PP", "SSHMCP_TEST_PW"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });

    it("never puts a passphrase or password value, or even their variable names, in argv", () => {
      process.env.SSHMCP_TEST_PP = "pp-Sup3rSecret!";
      process.env.SSHMCP_TEST_PW = "pw-An0therSecret";
      const p = profile({
        host: "h",
        key_filename: "/keys/id",
        passphrase_env: "SSHMCP_TEST_PP",
        password_env: "SSHMCP_TEST_PW",
      });
      for (const askpass of [false, true]) {
        const argv = nativeSshArgv(p, { connectTimeout: 5, askpass });
        for (const a of argv) {
          expect(a).not.toContain("Sup3rSecret");
          expect(a).not.toContain("An0therSecret");
          expect(a).not.toContain("SSHMCP_TEST_PP");
          expect(a).not.toContain("SSHMCP_TEST_PW");
        }
      }
    });
  });
});
