import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { profileSchema, type Profile } from "../../src/config/schema.js";
import { maskDeep, masksPath, namedSecret, writeMasks } from "../../src/session/secrets.js";
import { SecretMasker } from "../../src/transcript/masks.js";

let dir: string;
let transcript: string;

function profile(secrets: Record<string, { env: string; prompt?: string }>): Profile {
  return { ...profileSchema.parse({ host: "h", secrets }), host: "h", name: "p", keepalive_interval: 0 };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sshmcp-masks-"));
  transcript = join(dir, "s.jsonl");
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("SecretMasker (the tap's masking by the masks file)", () => {
  const env = { A: "hunter2-long", B: "s3cr3t", SHORT: "abc" };
  const p = profile({ a: { env: "A" }, b: { env: "B" }, short: { env: "SHORT" } });

  it("masks every value anywhere on a line, and leaves other text alone", () => {
    writeMasks(transcript, p, env);
    const m = new SecretMasker(masksPath(transcript));
    expect(m.text("x hunter2-long y s3cr3ts3cr3t\nhunter2-lon\n")).toBe(
      "x [SECRET:a] y [SECRET:b][SECRET:b]\nhunter2-lon\n",
    );
    // Shorter than 4 characters: not masked (too many innocent matches).
    expect(m.text("abc")).toBe("abc");
  });

  it("finds a value through colours and drops the codes inside it", () => {
    writeMasks(transcript, p, env);
    const m = new SecretMasker(masksPath(transcript));
    expect(m.text("\x1b[31ms3\x1b[0mcr3t!\r")).toBe("\x1b[31m[SECRET:b]!\r");
  });

  it("reads the file again when the server rewrites it (new values)", () => {
    writeMasks(transcript, p, env);
    const m = new SecretMasker(masksPath(transcript));
    expect(m.text("new-value-1")).toBe("new-value-1");
    writeMasks(transcript, p, { ...env, A: "new-value-1" });
    const later = new Date(statSync(masksPath(transcript)).mtimeMs + 5000);
    utimesSync(masksPath(transcript), later, later);
    expect(m.text("new-value-1")).toBe("[SECRET:a]");
  });

  it("a profile without secrets has no masks file", () => {
    writeMasks(transcript, p, env);
    writeMasks(transcript, profile({}), env);
    expect(() => statSync(masksPath(transcript))).toThrow();
  });
});

describe("result masking and named secrets", () => {
  it("masks strings at any depth, longest value first", () => {
    const values = [
      { name: "long", value: "abcd-efgh" },
      { name: "short", value: "abcd" },
    ];
    expect(maskDeep({ a: ["x abcd-efgh abcd"], n: 1, b: { c: "abcd" } }, values)).toEqual({
      a: ["x [SECRET:long] [SECRET:short]"],
      n: 1,
      b: { c: "[SECRET:short]" },
    });
  });

  it("UNKNOWN_SECRET names the declared ones; SECRET_MISSING names the variable", () => {
    const p = profile({ sudo: { env: "SUDO_PW", prompt: "(?i)^\\[sudo\\]" } });
    expect(() => namedSecret(p, {}, "root")).toThrow(expect.objectContaining({ code: "UNKNOWN_SECRET" }));
    expect(() => namedSecret(p, {}, "toString")).toThrow(expect.objectContaining({ code: "UNKNOWN_SECRET" }));
    expect(() => namedSecret(p, { SUDO_PW: "" }, "sudo")).toThrow(
      expect.objectContaining({ code: "SECRET_MISSING", message: expect.stringContaining("SUDO_PW") }),
    );
    const s = namedSecret(p, { SUDO_PW: "pw-1234" }, "sudo");
    // RE2's inline flags, which JavaScript's RegExp lacks.
    expect(s.prompt?.test("[SUDO] password for x: ")).toBe(true);
    expect(s.prompt?.test("Password: ")).toBe(false);
  });

  it("a bad secret prompt is a CONFIG_ERROR naming the profile and the secret", () => {
    const config = join(dir, "profiles.json");
    writeFileSync(
      config,
      JSON.stringify({
        profiles: { prod: { host: "h", secrets: { sudo: { env: "X", prompt: "a(?!b)" } } } },
      }),
    );
    expect(() => loadConfig({ config, runtimeDir: dir }, {})).toThrow(
      expect.objectContaining({
        code: "CONFIG_ERROR",
        message: expect.stringMatching(/profile 'prod', field 'secrets\.sudo\.prompt': not a valid RE2/),
      }),
    );
  });

  it("a secret prompt or confirm pattern that RE2 cannot compile is refused at load", () => {
    expect(
      profileSchema.safeParse({ host: "h", secrets: { s: { env: "X", prompt: "(?=a)" } } }).success,
    ).toBe(false);
    expect(profileSchema.safeParse({ host: "h", confirm_patterns: ["a\\1"] }).success).toBe(false);
    expect(profileSchema.safeParse({ host: "h", secrets: { "1bad": { env: "X" } } }).success).toBe(false);
    expect(profileSchema.safeParse({ host: "h", secrets: { s: { env: "not-a-var" } } }).success).toBe(false);
  });
});
