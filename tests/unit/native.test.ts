import { afterEach, describe, expect, it } from "vitest";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { nativeSshArgv } from "../../src/ssh/native.js";

function profile(fields: Record<string, unknown>, keepalive = 30): Profile {
  const p = profileSchema.parse(fields);
  return { ...p, name: "t", keepalive_interval: p.keepalive_interval ?? keepalive };
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

  it("passes known_hosts_file as UserKnownHostsFile", () => {
    const o = options(nativeSshArgv(profile({ host: "h", known_hosts_file: "/tmp/my kh" }), base));
    expect(o.get("UserKnownHostsFile")).toBe("/tmp/my kh");
  });

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

  it("proxy_jump with -J, port and username", () => {
    const argv = nativeSshArgv(
      profile({ host: "10.0.0.5", port: 2222, username: "ops", proxy_jump: "jump@bastion:22" }),
      base,
    );
    expect(flag(argv, "-J")).toBe("jump@bastion:22");
    expect(flag(argv, "-p")).toBe("2222");
    expect(flag(argv, "-l")).toBe("ops");
    expect(argv.at(-1)).toBe("10.0.0.5");
    expect(argv.at(-2)).toBe("--");
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
