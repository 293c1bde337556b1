import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adhocProfile } from "../../src/config/adhoc.js";
import { SshMcpError } from "../../src/errors.js";
import {
  DEFAULT_FORCED,
  forcedConfigFile,
  forcedConfigText,
  parseSshG,
  resolveAlias,
  resolveHop,
} from "../../src/config/ssh-resolve.js";
import { nativeSshArgv } from "../../src/ssh/native.js";

const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-resolve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof SshMcpError ? err.code : String(err);
  }
  return "no error";
}

describe("ssh -G output", () => {
  it("reads user, host, port, the jump chain, identities, certificates and forwardings", () => {
    const r = parseSshG(
      [
        "host web",
        "user deploy",
        "hostname 10.0.0.5",
        "port 2201",
        "proxyjump bastion,ops@gw.example:2222",
        "identityfile ~/.ssh/web_ed25519",
        "identityfile /keys/second",
        "certificatefile ~/.ssh/web-cert.pub",
        "forwardagent yes",
        "userknownhostsfile /h/.ssh/known_hosts /h/.ssh/known_hosts2",
        "localforward 8080 [127.0.0.1]:80",
        "",
      ].join("\n"),
    );
    expect(r).toMatchObject({
      user: "deploy",
      hostname: "10.0.0.5",
      port: 2201,
      proxyjump: ["bastion", "ops@gw.example:2222"],
      proxycommand: null,
      identityfiles: ["~/.ssh/web_ed25519", "/keys/second"],
      default_identities: false,
      certificatefiles: ["~/.ssh/web-cert.pub"],
      forwardagent: "yes",
      userknownhostsfiles: ["/h/.ssh/known_hosts", "/h/.ssh/known_hosts2"],
      forwards: ["localforward 8080 [127.0.0.1]:80"],
    });
  });

  it("knows OpenSSH's default identities from configured ones", () => {
    const r = parseSshG(
      "hostname h\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\nproxyjump none\n",
    );
    expect(r.default_identities).toBe(true);
    expect(r.proxyjump).toEqual([]);
  });
});

describe("ssh-mcp's -F file", () => {
  it("forces strict host keys and batch mode before the user's config, then the system's", () => {
    const text = forcedConfigText("/home/u/.ssh/config", DEFAULT_FORCED);
    const lines = text.trim().split("\n");
    const include = lines.indexOf("Include /home/u/.ssh/config");
    expect(include).toBeGreaterThan(lines.indexOf("StrictHostKeyChecking yes"));
    expect(include).toBeGreaterThan(lines.indexOf("BatchMode yes"));
    expect(include).toBeGreaterThan(lines.indexOf("PasswordAuthentication no"));
    expect(lines.indexOf("StrictHostKeyChecking yes")).toBeGreaterThan(0);
    expect(lines.at(-1)).toBe("Include /etc/ssh/ssh_config");
    const askpass = forcedConfigText(null, { strict: "accept-new", askpass: true, password: true });
    expect(askpass).toContain("StrictHostKeyChecking accept-new");
    expect(askpass).toContain("NumberOfPasswordPrompts 1");
    expect(askpass).not.toContain("BatchMode");
    expect(askpass).not.toContain("PasswordAuthentication no");
  });

  it("wins over the user's own `Host *` settings, on the target and on a ProxyJump hop (ssh -G)", async () => {
    const user = join(dir, "user_config");
    writeFileSync(
      user,
      "Host web\n  HostName 10.1.2.3\n  ProxyJump hop\nHost *\n  StrictHostKeyChecking no\n  BatchMode no\n",
    );
    const file = forcedConfigFile(join(dir, "rt"), user, DEFAULT_FORCED);
    expect(forcedConfigFile(join(dir, "rt"), user, DEFAULT_FORCED)).toBe(file);
    const r = await resolveAlias("web", file, { ...process.env, HOME: dir });
    expect(r.ok && r.resolved).toMatchObject({
      hostname: "10.1.2.3",
      stricthostkeychecking: "true",
      proxyjump: ["hop"],
    });
    // The hop is resolved with the same file: the forced options apply to it as well.
    const out = execFileSync("ssh", ["-G", "-F", file, "--", "hop"], { encoding: "utf8" });
    expect(out).toMatch(/^stricthostkeychecking true$/m);
    expect(out).toMatch(/^batchmode yes$/m);
    const hop = await resolveHop("ops@hop:2200", file, { ...process.env, HOME: dir });
    expect(hop).toEqual({ spec: "ops@hop:2200", user: "ops", hostname: "hop", port: 2200 });
  });

  it("reports ssh's own words, with file and line, for a line it refuses", async () => {
    const user = join(dir, "broken_config");
    writeFileSync(user, "Host a\n  HostName x\n  NoSuchOption 1\n");
    const file = forcedConfigFile(join(dir, "rt"), user, DEFAULT_FORCED);
    const r = await resolveAlias("a", file, { ...process.env, HOME: dir });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toContain(`${user}: line 3: Bad configuration option: nosuchoption`);
  });
});

describe("ad-hoc targets", () => {
  it("are refused unless the operator allows them", () => {
    expect(code(() => adhocProfile("u@h", false, 30))).toBe("TARGET_NOT_ALLOWED");
  });

  it("take user@host[:port], IPv4 and [IPv6]", () => {
    expect(adhocProfile("ops@db-1.example:2222", true, 30)).toMatchObject({
      name: "ops@db-1.example:2222",
      host: "db-1.example",
      port: 2222,
      username: "ops",
      auto_add_host_key: false,
      bridge: "native",
      origin: { kind: "adhoc" },
    });
    expect(adhocProfile("10.0.0.1", true, 30)).toMatchObject({ host: "10.0.0.1", port: 22 });
    expect(adhocProfile("[::1]:22", true, 30)).toMatchObject({ host: "::1", port: 22 });
  });

  it.each([
    "-oProxyCommand=sh",
    "u@-oProxyCommand=sh",
    "u@h -p 1",
    "u@h:0",
    "u@h:70000",
    "u@h%n",
    "u@h;id",
    "u@@h",
    "ssh://u@h",
    "u@h\nx",
    "",
  ])("refuses %j as INVALID_ARGUMENT", (target) => {
    expect(code(() => adhocProfile(target, true, 30))).toBe("INVALID_ARGUMENT");
  });
});

describe("native argv with ssh-mcp's -F file", () => {
  const base = adhocProfile("ops@web:2200", true, 30);
  it("puts -F first, and the destination after --", () => {
    const argv = nativeSshArgv(base, { connectTimeout: 5, askpass: false, configFile: "/rt/ssh/config-x" });
    expect(argv.slice(0, 4)).toEqual(["ssh", "-tt", "-F", "/rt/ssh/config-x"]);
    expect(argv.slice(-2)).toEqual(["--", "web"]);
    const alias = nativeSshArgv(
      { ...base, ssh_config_host: "prod-web", username: undefined },
      { connectTimeout: 5, askpass: false, configFile: "/rt/ssh/config-x" },
    );
    expect(alias.slice(-2)).toEqual(["--", "prod-web"]);
    expect(alias).not.toContain("-p");
  });
});
