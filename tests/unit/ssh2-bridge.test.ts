import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hostSpec, knownKeys } from "../../src/ssh/known-hosts.js";
import { EXIT, fingerprint, verifyHostKey } from "../../src/ssh/ssh2-bridge.js";

/** The ssh2 bridge's host key logic: known_hosts parsing (hashed too), accept-new, refusals. */

function blob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const b = Buffer.from(body);
  const out = Buffer.alloc(8 + t.length + b.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(b.length, 4 + t.length);
  b.copy(out, 8 + t.length);
  return out;
}

function hashed(spec: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(spec).digest("base64")}`;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ssh-mcp-kh-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("known_hosts", () => {
  const key = blob("ssh-ed25519", "server-key-1");
  const other = blob("ssh-ed25519", "server-key-2");

  it("finds plain, comma-listed and hashed entries for [host]:port, and nothing else", () => {
    const spec = hostSpec("10.0.0.5", 2222);
    expect(spec).toBe("[10.0.0.5]:2222");
    expect(hostSpec("h", 22)).toBe("h");
    const text = [
      "# comment",
      `${hashed(spec)} ssh-ed25519 ${key.toString("base64")}`,
      `other,${spec} ssh-rsa ${other.toString("base64")}`,
      `[10.0.0.5]:22 ssh-ed25519 ${other.toString("base64")}`,
      `@revoked ${spec} ssh-ed25519 ${other.toString("base64")}`,
    ].join("\n");
    const found = knownKeys(text, spec);
    expect(found.map((k) => k.type).sort()).toEqual(["ssh-ed25519", "ssh-rsa"]);
    expect(found.find((k) => k.type === "ssh-ed25519")?.blob.equals(key)).toBe(true);
  });

  it("accepts a known key, refuses a changed one with both fingerprints, refuses or adds an unknown one", () => {
    const file = join(dir, "known_hosts");
    const spec = hostSpec("127.0.0.1", 2200);
    writeFileSync(file, `${hashed(spec)} ssh-ed25519 ${key.toString("base64")}\n`);
    const p = { host: "127.0.0.1", port: 2200, auto_add_host_key: false, known_hosts_file: file };
    const fails: number[] = [];
    expect(verifyHostKey(p, key, (s) => fails.push(s))).toBe(true);
    expect(verifyHostKey(p, other, (s) => fails.push(s))).toBe(false);
    expect(verifyHostKey({ ...p, auto_add_host_key: true }, other, (s) => fails.push(s))).toBe(false);
    expect(fails).toEqual([EXIT.hostKeyChanged, EXIT.hostKeyChanged]);
    expect(fingerprint(key)).toMatch(/^SHA256:[A-Za-z0-9+/]+$/);
    const unknown = { host: "127.0.0.1", port: 2201, auto_add_host_key: false, known_hosts_file: file };
    expect(verifyHostKey(unknown, key, (s) => fails.push(s))).toBe(false);
    expect(fails[2]).toBe(EXIT.hostKeyUnknown);
    expect(verifyHostKey({ ...unknown, auto_add_host_key: true }, key, () => fails.push(-1))).toBe(true);
    expect(readFileSync(file, "utf8")).toContain(`[127.0.0.1]:2201 ssh-ed25519 ${key.toString("base64")}`);
    expect(verifyHostKey(unknown, key, () => fails.push(-1))).toBe(true);
    expect(fails).not.toContain(-1);
  });
});
