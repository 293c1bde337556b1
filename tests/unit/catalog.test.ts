import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProfileCatalog } from "../../src/config/catalog.js";
import { loadConfig } from "../../src/config/load.js";
import { pollUntil } from "../support/poll.js";

/** The live profiles against real files, real chokidar and real `ssh -G` (catalog.ts). */
let home: string;
let catalog: ProfileCatalog | undefined;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "ssh-mcp-catalog-"));
  mkdirSync(join(home, ".ssh", "conf.d"), { recursive: true });
});
afterEach(() => {
  catalog?.close();
  catalog = undefined;
  rmSync(home, { recursive: true, force: true });
});

function start(configDir = join(home, "cfg")) {
  const env = {
    HOME: home,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    SSH_MCP_CONFIG: join(configDir, "profiles.json"),
  };
  const config = loadConfig({ runtimeDir: join(home, "rt") }, env);
  catalog = new ProfileCatalog(config, { env, secretNames: () => [], recheckMs: 100 });
  catalog.start(true);
  return { config, catalog };
}

describe("live profiles", () => {
  it("reads again only for the files read and what an Include pattern names", async () => {
    writeFileSync(join(home, ".ssh", "config"), "Include conf.d/*.conf\nHost a\n  HostName 10.0.0.1\n");
    const { config, catalog } = start();
    await catalog.settled;
    expect(config.profiles.a?.host).toBe("10.0.0.1");
    expect(catalog.relevant(join(home, ".ssh", "config"))).toBe(true);
    expect(catalog.relevant(join(home, ".ssh", "conf.d", "new.conf"))).toBe(true);
    expect(catalog.relevant(join(home, ".ssh", "known_hosts"))).toBe(false);
    expect(catalog.relevant(join(home, ".ssh", "conf.d", "notes.txt"))).toBe(false);
    // A new file an Include names brings its Hosts, without a restart.
    writeFileSync(join(home, ".ssh", "conf.d", "new.conf"), "Host b\n  HostName 10.0.0.2\n  Port 2200\n");
    await pollUntil(() => config.profiles.b?.port === 2200, { timeoutMs: 10_000 });
    expect(config.profiles.b).toMatchObject({ host: "10.0.0.2", origin: { kind: "ssh_config", line: 1 } });
  });

  it("notices a profiles file whose directory did not exist at start", async () => {
    const { config, catalog } = start(join(home, "later", "ssh-mcp"));
    await catalog.settled;
    expect(config.profiles.p).toBeUndefined();
    mkdirSync(join(home, "later", "ssh-mcp"), { recursive: true });
    writeFileSync(
      join(home, "later", "ssh-mcp", "profiles.json"),
      JSON.stringify({ profiles: { p: { host: "h" } } }),
    );
    await pollUntil(() => config.profiles.p, { timeoutMs: 10_000 });
    expect(config.configFound).toBe(true);
  });

  it("keeps the last good profiles through a broken edit, and says why", async () => {
    writeFileSync(join(home, ".ssh", "config"), "Host a\n  HostName 10.0.0.1\n");
    const { config, catalog } = start();
    await catalog.settled;
    writeFileSync(join(home, ".ssh", "config"), "Host a\n  HostName 10.0.0.9\n  Bogus yes\n");
    await pollUntil(() => catalog.error, { timeoutMs: 10_000 });
    expect(catalog.error).toMatchObject({ source: "ssh_config" });
    expect(catalog.error?.message).toContain(`${join(home, ".ssh", "config")}: line 3`);
    expect(config.profiles.a?.host).toBe("10.0.0.1");
    writeFileSync(join(home, ".ssh", "config"), "Host a\n  HostName 10.0.0.9\n");
    await pollUntil(() => catalog.error === null && config.profiles.a?.host === "10.0.0.9", {
      timeoutMs: 10_000,
    });
  });

  it("a config that canonicalises host names is not taken for a broken one", async () => {
    writeFileSync(
      join(home, ".ssh", "config"),
      "CanonicalizeHostname yes\nCanonicalizeFallbackLocal no\nCanonicalDomains example.invalid\nHost a\n  HostName 10.0.0.1\n",
    );
    const { catalog } = start();
    await catalog.settled;
    expect(catalog.error).toBeNull();
  });
});
