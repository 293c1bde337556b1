import { RE2JS } from "re2js";
import { z } from "zod";

/** Profile fields keep the Python predecessor's names so existing profiles.json files load. */
export const routeStepSchema = z
  .object({
    expect: z.string().min(1).describe("Regex matched against the new output before sending"),
    send: z.string().default("").describe("Text to send (Enter is appended)"),
    send_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be the NAME of an environment variable")
      .optional()
      .describe("Send the value of this environment variable instead (a password): always sensitive"),
    sensitive: z.boolean().default(false),
  })
  .strict();

export const securitySchema = z
  .object({
    mode: z.enum(["unrestricted", "readonly", "restricted"]).default("unrestricted"),
    allow_patterns: z.array(z.string()).default([]),
    deny_patterns: z.array(z.string()).default([]),
    redact_transcripts: z.boolean().default(true),
  })
  .strict();

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be the NAME of an environment variable, not a secret value");

/**
 * A regex of the profile that runs on every matching input (a secret's prompt, confirm_patterns):
 * RE2 semantics (re2js), linear in the text, checked when the config is loaded.
 */
const re2Pattern = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((pattern, ctx) => {
    try {
      RE2JS.compile(pattern);
    } catch (err) {
      ctx.addIssue({
        code: "custom",
        message: `not a valid RE2 regular expression (${(err as Error).message}); RE2 has no lookaround or backreferences`,
      });
    }
  });

/** A secret the agent may use by name only (send_secret): its value is read from `env`. */
export const secretSchema = z
  .object({
    env: envName.describe("The environment variable of the server that holds the value"),
    prompt: re2Pattern.optional().describe("The password prompt must also match this RE2 regex"),
  })
  .strict();

/** Names of profile secrets: what send_secret's `name` and `[SECRET:name]` masks use. */
export const SECRET_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export const profileSchema = z
  .object({
    /** Absent: the profile is the ssh config Host of its name (or of ssh_config_host). */
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(22),
    username: z.string().min(1).optional(),
    key_filename: z.string().min(1).optional(),
    passphrase_env: envName.optional(),
    password_env: envName.optional(),
    allow_agent: z.boolean().default(true),
    look_for_keys: z.boolean().default(true),
    auto_add_host_key: z.boolean().default(false),
    known_hosts_file: z.string().min(1).optional(),
    term: z.string().min(1).default("xterm-256color"),
    width: z.number().int().min(20).max(1000).default(120),
    height: z.number().int().min(5).max(500).default(40),
    keepalive_interval: z.number().int().min(0).max(3600).optional(),
    enter_sequence: z.enum(["lf", "cr", "crlf"]).default("lf"),
    bridge: z.enum(["native", "ssh2"]).default("native"),
    ssh_config_host: z.string().min(1).optional(),
    proxy_jump: z.string().min(1).optional(),
    prompt_regex: z.string().min(1).optional(),
    route: z.array(routeStepSchema).default([]),
    secrets: z
      .record(
        z.string().regex(SECRET_NAME, "secret names must match ^[A-Za-z][A-Za-z0-9_-]{0,63}$"),
        secretSchema,
      )
      .optional(),
    /** Commands a human must approve (form elicitation) before they are typed. */
    confirm_patterns: z.array(re2Pattern).optional(),
    security: securitySchema.default({
      mode: "unrestricted",
      allow_patterns: [],
      deny_patterns: [],
      redact_transcripts: true,
    }),
  })
  .strict();

export const profilesFileSchema = z
  .object({
    profiles: z.record(z.string().min(1), profileSchema).default({}),
    /** open_session(target: "user@host:port") without a profile (strict host keys). */
    allow_adhoc_targets: z.boolean().default(false),
    /** The ssh config whose Host aliases are profiles; false: none (default ~/.ssh/config). */
    ssh_config: z.union([z.string().min(1), z.literal(false)]).optional(),
  })
  .strict();

/** Where the built-in lab runs, for the built-in lab profiles (never set from a file). */
export interface LabRef {
  host: string;
  port: number;
  dir: string;
}

/** Where a profile comes from (list_profiles' `source`). */
export interface ProfileOrigin {
  kind: "profiles_file" | "ssh_config" | "builtin" | "adhoc";
  file?: string;
  line?: number;
  /** A profiles-file entry named like an ssh config Host: where that Host is. */
  overrides?: string;
  /** An ad-hoc target that gave no port: ssh's own (the ssh config's Port, else 22) applies. */
  port_default?: boolean;
}

export type Profile = Omit<z.infer<typeof profileSchema>, "host"> & {
  name: string;
  /** The host to show and check (an ssh config profile: what `ssh -G` resolved, else the alias). */
  host: string;
  keepalive_interval: number;
  lab?: LabRef;
  origin?: ProfileOrigin;
  /** An ssh config profile, as `ssh -G` resolved it (see ssh-resolve.ts); absent until resolved. */
  ssh?: import("./ssh-resolve.js").SshResolved;
  /** What `ssh -G` said when it refused the alias. */
  sshProblem?: string;
  /**
   * A profiles-file entry whose host is a Host of the ssh config: the HostName ssh will reach for
   * it (ssh applies that Host's block). Only for matching targets and twins: it connects as before.
   */
  reaches?: string;
};

/** The bytes of Enter, by the profile's enter_sequence. */
const ENTER: Record<string, string> = { lf: "\n", cr: "\r", crlf: "\r\n" };

/** What pressing Enter sends in a session of this profile. */
export function enterKey(profile: Pick<Profile, "enter_sequence">): string {
  return ENTER[profile.enter_sequence] ?? "\n";
}
