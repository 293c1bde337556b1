import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { expandPath, loadConfig } from "../../src/config/load.js";
import { configPathFrom, runtimeDirFrom } from "../../src/config/paths.js";
import { SshMcpError } from "../../src/errors.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-config-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

function writeProfiles(content: unknown, name = "profiles.json"): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function configError(fn: () => unknown): SshMcpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SshMcpError);
    expect((err as SshMcpError).code).toBe("CONFIG_ERROR");
    return err as SshMcpError;
  }
  throw new Error("expected a CONFIG_ERROR");
}

describe("loadConfig", () => {
  it("applies profile defaults", () => {
    const path = writeProfiles({ profiles: { web: { host: "web.example" } } });
    const cfg = loadConfig({ config: path }, {}, dir);
    expect(cfg.configFound).toBe(true);
    expect(cfg.configPath).toBe(path);
    const p = cfg.profiles.web;
    expect(p).toMatchObject({
      name: "web",
      host: "web.example",
      port: 22,
      width: 120,
      height: 40,
      term: "xterm-256color",
      enter_sequence: "lf",
      bridge: "native",
      auto_add_host_key: false,
      allow_agent: true,
      look_for_keys: true,
      keepalive_interval: 30,
      route: [],
      security: { mode: "unrestricted", allow_patterns: [], deny_patterns: [], redact_transcripts: true },
    });
    expect(p?.key_filename).toBeUndefined();
  });

  it("takes the default keepalive from SSH_MCP_KEEPALIVE_INTERVAL; a profile value wins", () => {
    const path = writeProfiles({ profiles: { a: { host: "a" }, b: { host: "b", keepalive_interval: 5 } } });
    const cfg = loadConfig({ config: path }, { SSH_MCP_KEEPALIVE_INTERVAL: "12" }, dir);
    expect(cfg.profiles.a?.keepalive_interval).toBe(12);
    expect(cfg.profiles.b?.keepalive_interval).toBe(5);
    const bad = configError(() => loadConfig({ config: path }, { SSH_MCP_KEEPALIVE_INTERVAL: "soon" }, dir));
    expect(bad.message).toContain("SSH_MCP_KEEPALIVE_INTERVAL");
  });

  it("resolves '~' and relative key paths (relative to the profiles file)", () => {
    mkdirSync(join(dir, "conf"));
    const path = writeProfiles(
      {
        profiles: {
          home: { host: "h", key_filename: "~/.ssh/id_ed25519", known_hosts_file: "~" },
          rel: { host: "h", key_filename: "keys/id_rsa", known_hosts_file: "./kh" },
          abs: { host: "h", key_filename: "/etc/ssh/key" },
        },
      },
      "conf/profiles.json",
    );
    const cfg = loadConfig({ config: "conf/profiles.json" }, {}, dir);
    expect(cfg.configPath).toBe(path);
    expect(cfg.profiles.home?.key_filename).toBe(join(homedir(), ".ssh/id_ed25519"));
    expect(cfg.profiles.home?.known_hosts_file).toBe(homedir());
    expect(cfg.profiles.rel?.key_filename).toBe(join(dir, "conf", "keys/id_rsa"));
    expect(cfg.profiles.rel?.known_hosts_file).toBe(join(dir, "conf", "kh"));
    expect(cfg.profiles.abs?.key_filename).toBe("/etc/ssh/key");
  });

  it("a missing file is not an error: configFound false and only the built-in lab and lab-master profiles", () => {
    const cfg = loadConfig({ config: join(dir, "nope.json") }, {}, dir);
    expect(cfg.configFound).toBe(false);
    expect(Object.keys(cfg.profiles).sort()).toEqual(["lab", "lab-master"]);
    const byDefault = loadConfig({}, { HOME: dir }, dir);
    expect(byDefault.configPath).toBe(join(dir, ".config/ssh-mcp/profiles.json"));
    expect(byDefault.configFound).toBe(false);
  });

  it("invalid JSON is a CONFIG_ERROR naming the file", () => {
    const path = writeProfiles('{"profiles": {"a": {"host": "x",}}}');
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toContain("\n    at ");
  });

  it("an unknown field is reported with the profile and the field", () => {
    const path = writeProfiles({ profiles: { prod: { host: "x", colour: "red" } } });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain(path);
    expect(err.message).toContain("profile 'prod'");
    expect(err.message).toContain("colour");
  });

  it("a wrong type is reported with the profile and the field", () => {
    const path = writeProfiles({ profiles: { prod: { host: "x", port: "22" } } });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain("profile 'prod', field 'port'");
  });

  it("a bad nested field is reported by path and line; a missing host (no ssh config Host of that name) too", () => {
    const path = writeProfiles({
      profiles: { a: { port: 22 }, b: { host: "b", security: { mode: "yolo" } } },
    });
    const err = configError(() => loadConfig({ config: path }, { SSH_MCP_SSH_CONFIG: "off" }, dir));
    expect(err.message).toMatch(/line \d+: profile 'b', field 'security.mode'/);
    const path2 = writeProfiles({ profiles: { a: { port: 22 } } }, "a.json");
    const err2 = configError(() => loadConfig({ config: path2 }, { SSH_MCP_SSH_CONFIG: "off" }, dir));
    expect(err2.message).toContain("profile 'a', field 'host'");
  });

  it("a profile defined twice is reported with both lines (JSON would keep the last silently)", () => {
    const path = writeProfiles(
      '{\n  "profiles": {\n    "web": {"host": "a"},\n    "db": {"host": "b"},\n    "web": {"host": "c"}\n  }\n}\n',
    );
    const err = configError(() => loadConfig({ config: path }, { SSH_MCP_SSH_CONFIG: "off" }, dir));
    expect(err.message).toContain(`${path}: line 5: profile 'web' is defined twice (first at line 3)`);
  });

  it("a field error names the profile's line", () => {
    const path = writeProfiles(
      '{\n  "profiles": {\n    "ok": {"host": "a"},\n    "bad": {"host": "b", "port": 0}\n  }\n}\n',
    );
    const err = configError(() => loadConfig({ config: path }, { SSH_MCP_SSH_CONFIG: "off" }, dir));
    expect(err.message).toContain(`${path}: line 4: profile 'bad', field 'port'`);
  });

  it("an unknown top-level key is reported", () => {
    const path = writeProfiles({ profiles: {}, extra: 1 });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain(path);
    expect(err.message).toContain("extra");
  });

  it("rejects a secret value in passphrase_env without repeating it", () => {
    const path = writeProfiles({ profiles: { p: { host: "x", passphrase_env: "hunter2 pass" } } });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain("profile 'p', field 'passphrase_env'");
    expect(err.message).toMatch(/NAME of an environment variable/);
    expect(err.message).not.toContain("hunter2");
    const pw = writeProfiles({ profiles: { p: { host: "x", password_env: "s3cr3t!" } } }, "pw.json");
    expect(configError(() => loadConfig({ config: pw }, {}, dir)).message).toContain("field 'password_env'");
  });

  it("accepts environment variable names in passphrase_env/password_env", () => {
    const path = writeProfiles({
      profiles: { p: { host: "x", passphrase_env: "SSH_MCP_KEY_PASSPHRASE", password_env: "_pw1" } },
    });
    const p = loadConfig({ config: path }, {}, dir).profiles.p;
    expect(p?.passphrase_env).toBe("SSH_MCP_KEY_PASSPHRASE");
    expect(p?.password_env).toBe("_pw1");
  });

  it("rejects an invalid prompt_regex or route expect regex, naming the field", () => {
    const path = writeProfiles({ profiles: { menu: { host: "x", prompt_regex: "([a-z" } } });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain("profile 'menu', field 'prompt_regex'");
    expect(err.message).toMatch(/invalid regex/);
    const route = writeProfiles(
      {
        profiles: {
          menu: {
            host: "x",
            route: [
              { expect: "ok", send: "1" },
              { expect: "*", send: "2" },
            ],
          },
        },
      },
      "route.json",
    );
    expect(configError(() => loadConfig({ config: route }, {}, dir)).message).toContain(
      "field 'route.1.expect'",
    );
  });

  it("viewer port: auto by default, a number, off; anything else is rejected", () => {
    expect(loadConfig({}, {}, dir).viewerPort).toBe("auto");
    expect(loadConfig({}, { SSH_MCP_VIEWER_PORT: "9000" }, dir).viewerPort).toBe(9000);
    expect(loadConfig({}, { SSH_MCP_VIEWER_PORT: "off" }, dir).viewerPort).toBe("off");
    for (const bad of ["0", "65536", "eighty", "80.5", "-1"]) {
      const err = configError(() => loadConfig({}, { SSH_MCP_VIEWER_PORT: bad }, dir));
      expect(err.message).toContain(`'${bad}'`);
    }
  });

  it("flags override the environment, which overrides defaults", () => {
    const envPath = writeProfiles({ profiles: { fromenv: { host: "e" } } }, "env.json");
    const flagPath = writeProfiles({ profiles: { fromflag: { host: "f" } } }, "flag.json");
    const env = {
      SSH_MCP_CONFIG: envPath,
      SSH_MCP_RUNTIME_DIR: "rt-env",
      SSH_MCP_VIEWER_HOST: "0.0.0.0",
      SSH_MCP_VIEWER_PORT: "9001",
    };
    const fromEnv = loadConfig({}, env, dir);
    expect(Object.keys(fromEnv.profiles).sort()).toEqual(["fromenv", "lab", "lab-master"]);
    expect(fromEnv.runtimeDir).toBe(join(dir, "rt-env"));
    expect(fromEnv.viewerHost).toBe("0.0.0.0");
    expect(fromEnv.viewerPort).toBe(9001);
    const fromFlags = loadConfig(
      { config: flagPath, runtimeDir: "rt-flag", viewerHost: "127.0.0.2", viewerPort: "9002" },
      env,
      dir,
    );
    expect(Object.keys(fromFlags.profiles).sort()).toEqual(["fromflag", "lab", "lab-master"]);
    expect(fromFlags.runtimeDir).toBe(join(dir, "rt-flag"));
    expect(fromFlags.viewerHost).toBe("127.0.0.2");
    expect(fromFlags.viewerPort).toBe(9002);
    const defaults = loadConfig({}, { HOME: dir }, dir);
    expect(defaults.runtimeDir).toBe(join(dir, ".local/state/ssh-mcp"));
    expect(defaults.viewerHost).toBe("127.0.0.1");
    expect(defaults.tmuxSocket).toBe("ssh-mcp");
  });

  it("rejects a tmux socket name that is not a plain word", () => {
    expect(loadConfig({}, { SSH_MCP_TMUX_SOCKET: "my-sock_1.x" }, dir).tmuxSocket).toBe("my-sock_1.x");
    const err = configError(() => loadConfig({}, { SSH_MCP_TMUX_SOCKET: "../evil sock" }, dir));
    expect(err.message).toContain("SSH_MCP_TMUX_SOCKET");
  });
});

describe("default file locations (per user, never per working directory)", () => {
  it("XDG_CONFIG_HOME and XDG_STATE_HOME win over HOME; relative XDG values are ignored", () => {
    const env = { HOME: "/home/u", XDG_CONFIG_HOME: "/x/conf", XDG_STATE_HOME: "/x/state" };
    expect(configPathFrom(undefined, env, "/cwd")).toBe("/x/conf/ssh-mcp/profiles.json");
    expect(runtimeDirFrom(undefined, env, "/cwd")).toBe("/x/state/ssh-mcp");
    const relative = { HOME: "/home/u", XDG_CONFIG_HOME: "conf", XDG_STATE_HOME: "state" };
    expect(configPathFrom(undefined, relative, "/cwd")).toBe("/home/u/.config/ssh-mcp/profiles.json");
    expect(runtimeDirFrom(undefined, relative, "/cwd")).toBe("/home/u/.local/state/ssh-mcp");
  });

  it("a flag beats the environment, and both are read relative to the working directory", () => {
    const env = { HOME: "/home/u", SSH_MCP_CONFIG: "c.json", SSH_MCP_RUNTIME_DIR: "rt" };
    expect(configPathFrom(undefined, env, "/cwd")).toBe("/cwd/c.json");
    expect(runtimeDirFrom(undefined, env, "/cwd")).toBe("/cwd/rt");
    expect(configPathFrom("/abs/f.json", env, "/cwd")).toBe("/abs/f.json");
    expect(runtimeDirFrom("flag", env, "/cwd")).toBe("/cwd/flag");
  });

  it("a HOME that is not absolute is not used: the account's home directory is", () => {
    const home = userInfo().homedir;
    expect(runtimeDirFrom(undefined, { HOME: "rel/home" }, "/cwd")).toBe(join(home, ".local/state/ssh-mcp"));
    expect(configPathFrom(undefined, { HOME: "" }, "/cwd")).toBe(join(home, ".config/ssh-mcp/profiles.json"));
  });

  it("the same defaults from any working directory", () => {
    const env = { HOME: "/home/u" };
    expect(loadConfig({}, env, "/a").runtimeDir).toBe(loadConfig({}, env, "/b").runtimeDir);
    expect(loadConfig({}, env, "/a").configPath).toBe(loadConfig({}, env, "/b").configPath);
  });
});

describe("built-in lab profiles", () => {
  it("keep their key and known_hosts under <runtimeDir>/lab/ and log in as ops on 127.0.0.1", () => {
    const cfg = loadConfig({ config: join(dir, "nope.json"), runtimeDir: "rt" }, {}, dir);
    const labDir = join(dir, "rt", "lab");
    for (const name of ["lab", "lab-master"]) {
      const p = cfg.profiles[name];
      expect(p?.name).toBe(name);
      expect(p?.host).toBe("127.0.0.1");
      expect(p?.username).toBe("ops");
      expect(p?.key_filename).toBe(join(labDir, "client_ed25519"));
      expect(p?.known_hosts_file).toBe(join(labDir, "known_hosts"));
      expect(p?.lab).toEqual({ host: "127.0.0.1", port: p?.port, dir: labDir });
    }
    expect(cfg.profiles.lab?.route).toEqual([]);
    const byEnv = loadConfig({ config: join(dir, "nope.json") }, { SSH_MCP_RUNTIME_DIR: "/var/rt" }, dir);
    expect(byEnv.profiles.lab?.key_filename).toBe("/var/rt/lab/client_ed25519");
    expect(byEnv.profiles["lab-master"]?.known_hosts_file).toBe("/var/rt/lab/known_hosts");
  });

  it("take their port from SSH_MCP_LAB_PORT (default 2222); an invalid value is a CONFIG_ERROR", () => {
    const nope = { config: join(dir, "nope.json") };
    const byDefault = loadConfig(nope, {}, dir);
    expect(byDefault.profiles.lab?.port).toBe(2222);
    expect(byDefault.profiles["lab-master"]?.port).toBe(2222);
    const cfg = loadConfig(nope, { SSH_MCP_LAB_PORT: "2999" }, dir);
    expect(cfg.profiles.lab?.port).toBe(2999);
    expect(cfg.profiles["lab-master"]?.port).toBe(2999);
    expect(cfg.profiles.lab?.lab?.port).toBe(2999);
    for (const bad of ["two", "22.5", "0", "-1"]) {
      const err = configError(() => loadConfig(nope, { SSH_MCP_LAB_PORT: bad }, dir));
      expect(err.message).toContain("SSH_MCP_LAB_PORT");
      expect(err.message).toContain(`'${bad}'`);
    }
  });

  it("a profiles file entry named lab overrides the built-in one; lab-master stays built in", () => {
    const path = writeProfiles({ profiles: { lab: { host: "lab.example", port: 2022, username: "me" } } });
    const cfg = loadConfig({ config: path }, {}, dir);
    expect(Object.keys(cfg.profiles).sort()).toEqual(["lab", "lab-master"]);
    expect(cfg.profiles.lab).toMatchObject({ name: "lab", host: "lab.example", port: 2022, username: "me" });
    expect(cfg.profiles.lab?.key_filename).toBeUndefined();
    expect(cfg.profiles.lab?.lab).toBeUndefined();
    expect(cfg.profiles["lab-master"]?.host).toBe("127.0.0.1");
  });

  it("lab-master walks the bastion menu in two steps: Target IP -> 10.0.0.11, User number -> 1", () => {
    const route = loadConfig({ config: join(dir, "nope.json") }, {}, dir).profiles["lab-master"]?.route;
    expect(route).toHaveLength(2);
    expect(route?.[0]).toMatchObject({ expect: "Target IP:", send: "10.0.0.11", sensitive: false });
    expect(route?.[1]).toMatchObject({ expect: "User number:", send: "1", sensitive: false });
    expect(new RegExp(route?.[0]?.expect ?? "^$").test("\x1b[33mTarget IP:\x1b[0m ")).toBe(true);
  });

  it("the lab prompt_regex matches the menu prompts and the master and pod shells", () => {
    const p = loadConfig({ config: join(dir, "nope.json") }, {}, dir).profiles.lab;
    const re = new RegExp(p?.prompt_regex ?? "^$");
    for (const prompt of ["Target IP: ", "User number: ", "Password: ", "[root@master-a ~]# ", "/ # "]) {
      expect(re.test(prompt), prompt).toBe(true);
    }
    expect(re.test("Connecting to master-a as ops ...")).toBe(false);
  });
});

describe("route steps with send_env", () => {
  it("accept the NAME of an environment variable", () => {
    const path = writeProfiles({
      profiles: {
        bastion: {
          host: "x",
          route: [
            { expect: "User number:", send: "3" },
            { expect: "Password:", send_env: "LAB_PW_1" },
          ],
        },
      },
    });
    const route = loadConfig({ config: path }, {}, dir).profiles.bastion?.route;
    expect(route?.[1]).toMatchObject({ expect: "Password:", send_env: "LAB_PW_1", send: "" });
    expect(route?.[0]?.send_env).toBeUndefined();
  });

  it("reject a value that is not a name (e.g. a password with spaces) without repeating it", () => {
    const path = writeProfiles({
      profiles: { bastion: { host: "x", route: [{ expect: "Password:", send_env: "my secret pw" }] } },
    });
    const err = configError(() => loadConfig({ config: path }, {}, dir));
    expect(err.message).toContain("profile 'bastion', field 'route.0.send_env'");
    expect(err.message).toMatch(/NAME of an environment variable/);
    expect(err.message).not.toContain("my secret pw");
  });
});

describe("expandPath", () => {
  it("expands ~, keeps absolute paths and resolves relative ones against the base", () => {
    expect(expandPath("~", "/base")).toBe(homedir());
    expect(expandPath("~/k", "/base")).toBe(join(homedir(), "k"));
    expect(expandPath("/abs/k", "/base")).toBe("/abs/k");
    expect(expandPath("rel/k", "/base")).toBe("/base/rel/k");
  });
});
