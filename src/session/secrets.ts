import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { RE2JS } from "re2js";
import type { Config } from "../config/load.js";
import type { Profile } from "../config/schema.js";
import { hashBase, rollingHash, type MasksFile } from "../transcript/masks.js";
import { SshMcpError } from "../errors.js";
import { cleanOutput } from "./output/clean.js";
import type { Session } from "./session.js";

/**
 * Secrets by name (docs/security.md, "Secrets by name and approvals"): a profile declares
 * `secrets: {name: {env, prompt?}}`; the agent names one (send_secret) and never sees its value.
 * Values are read from the server's environment when used; what comes back is masked as
 * `[SECRET:name]` in tool results (maskDeep) and, through the tap, in the transcript (masks file).
 */

/** Values shorter than this are not masked: too many innocent strings would be. */
export const MIN_MASKED = 4;

/** A declared secret whose variable is set: its name and value (never logged, recorded or returned). */
export interface SecretValue {
  name: string;
  value: string;
}

/** Whether the profile declares any secret (only then are its transcripts masked by the tap). */
export function declaresSecrets(profile: Profile): boolean {
  return Object.keys(profile.secrets ?? {}).length > 0;
}

/** The mask a value becomes in results and transcripts. */
export function secretMask(name: string): string {
  return `[SECRET:${name}]`;
}

/** The profile's declared secrets whose variables are set (maskable ones only with `min`). */
export function secretValues(profile: Profile, env: NodeJS.ProcessEnv, min = 0): SecretValue[] {
  const out: SecretValue[] = [];
  for (const [name, decl] of Object.entries(profile.secrets ?? {})) {
    const value = env[decl.env];
    if (value && value.length >= min) out.push({ name, value });
  }
  return out;
}

/** Every maskable secret value of every profile: what results are masked for (one place, all tools). */
export function allSecretValues(config: Config, env: NodeJS.ProcessEnv): SecretValue[] {
  const out: SecretValue[] = [];
  for (const p of Object.values(config.profiles)) {
    if (p.secrets) out.push(...secretValues(p, env, MIN_MASKED));
  }
  // Longest first: a value that contains another is masked whole.
  return out.sort((a, b) => b.value.length - a.value.length);
}

/** The text with every value replaced by its mask. */
export function maskText(text: string, values: SecretValue[]): string {
  let out = text;
  for (const v of values) if (out.includes(v.value)) out = out.split(v.value).join(secretMask(v.name));
  return out;
}

/** A tool result (or error data) with every string in it masked. */
export function maskDeep<T>(value: T, values: SecretValue[]): T {
  if (!values.length) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return maskText(v, values);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

/** What list_sessions and diagnose_profile say of a profile's secrets: names and whether set. */
export function secretsSummary(
  profile: Profile,
  env: NodeJS.ProcessEnv,
): Array<{ name: string; env: string; set: boolean }> {
  return Object.entries(profile.secrets ?? {}).map(([name, decl]) => ({
    name,
    env: decl.env,
    set: Boolean(env[decl.env]),
  }));
}

/** A secret the agent named, resolved: its value and the prompt it may be typed at. */
export interface NamedSecret {
  value: string;
  prompt?: { test(text: string): boolean; source: string };
}

/**
 * The profile's secret `name`: UNKNOWN_SECRET (naming the declared ones) when there is none,
 * SECRET_MISSING (naming the variable, never a value) when its variable is unset or empty.
 */
export function namedSecret(profile: Profile, env: NodeJS.ProcessEnv, name: string): NamedSecret {
  const declared = profile.secrets ?? {};
  const decl = Object.hasOwn(declared, name) ? declared[name] : undefined;
  if (!decl) {
    const names = Object.keys(declared);
    throw new SshMcpError(
      "UNKNOWN_SECRET",
      `Profile '${profile.name}' declares no secret '${name}'. ${names.length ? `Its secrets: ${names.join(", ")}.` : 'It declares no secrets: the operator adds them under "secrets" in the profile.'}`,
      { secrets: names },
    );
  }
  const value = env[decl.env];
  if (!value) {
    throw new SshMcpError(
      "SECRET_MISSING",
      `Secret '${name}' of profile '${profile.name}' comes from the environment variable ${decl.env}, which is not set (or empty) for the ssh-mcp server. Ask the operator to set it and restart the server. Nothing was typed.`,
      { secret: name, env: decl.env },
    );
  }
  if (!decl.prompt) return { value };
  // Validated at config load (schema.ts): compiles.
  const re = RE2JS.compile(decl.prompt);
  return { value, prompt: { test: (text) => re.matcher(text).find(), source: decl.prompt } };
}

/**
 * What the pane printed after a secret went in, once output has been quiet for the idle period
 * (at most `timeoutMs`), cleaned of terminal codes.
 */
export async function outputAfter(
  s: Session,
  start: number,
  idleMs: number,
  timeoutMs: number,
): Promise<string> {
  const sentAt = Date.now();
  await s.waitUntil(
    () =>
      s.status !== "open" || Date.now() - Math.max(sentAt, s.stream.lastRecvAt) >= idleMs ? true : undefined,
    timeoutMs,
  );
  return cleanOutput(s.stream.slice(start));
}

/** The masks file of a transcript: read by its tap (tap.ts --masks). */
export function masksPath(transcriptPath: string): string {
  return `${transcriptPath}.masks`;
}

/**
 * Writes the masks file the tap reads to mask echoed secret values in the transcript: a random
 * key and, per declared secret whose variable is set, its name, length, HMAC-SHA256 of the
 * value under that key and a keyed rolling hash (transcript/masks.ts), never the value. 0600, replaced whole (rename), so the tap never reads
 * half a file. A profile without secrets has none (a stale one is removed).
 */
export function writeMasks(transcriptPath: string, profile: Profile, env: NodeJS.ProcessEnv): void {
  const path = masksPath(transcriptPath);
  if (!declaresSecrets(profile)) {
    rmSync(path, { force: true });
    return;
  }
  const key = randomBytes(32);
  const base = hashBase(key);
  const file: MasksFile = {
    key: key.toString("hex"),
    masks: secretValues(profile, env, MIN_MASKED).map(({ name, value }) => ({
      name,
      len: value.length,
      hmac: createHmac("sha256", key).update(value).digest("hex"),
      rk: rollingHash(value, base),
    })),
  };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(file), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
