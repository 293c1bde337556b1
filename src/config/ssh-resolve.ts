import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";

/**
 * What OpenSSH will really do for a Host alias of the user's ssh config (docs/configuration.md,
 * "Your ssh config as profiles"). ssh-mcp never interprets ssh_config itself: it asks `ssh -G`,
 * and it connects with `ssh <alias>`, so every directive applies as in the user's own terminal.
 *
 * Both go through a small config file of ssh-mcp's own, given with `-F`: first the options
 * ssh-mcp forces (strict host keys, no interactive question), then `Include` of the user's config
 * and of the system one. OpenSSH keeps the first value it obtains, so the forced options win over
 * the user's `Host *` as command-line options would; unlike `-o`, the file is also handed to every
 * ProxyJump hop (ssh passes `-F` on), so a jump host never asks "continue connecting (yes/no)?"
 * either. `-F` also makes the file read the one ssh-mcp parsed: ssh reads its default
 * ~/.ssh/config from the passwd entry's home, not from $HOME.
 */

export interface SshResolved {
  user: string;
  hostname: string;
  port: number;
  /** The ProxyJump hops as written (none: []). */
  proxyjump: string[];
  proxycommand: string | null;
  /** As `ssh -G` prints them (`~` unexpanded); OpenSSH's default list when none is configured. */
  identityfiles: string[];
  /** True when no IdentityFile is configured (the list is OpenSSH's defaults). */
  default_identities: boolean;
  certificatefiles: string[];
  forwardagent: string;
  stricthostkeychecking: string;
  userknownhostsfiles: string[];
  globalknownhostsfiles: string[];
  hostkeyalias: string | null;
  /** Forwardings and the like that only a native ssh honours. */
  forwards: string[];
  /** Each ProxyJump hop as ssh -G resolves it (filled by the catalog). */
  jumps?: JumpHop[];
}

export interface JumpHop {
  /** As written in ProxyJump: `[user@]host[:port]` or an alias. */
  spec: string;
  user?: string;
  hostname?: string;
  port?: number;
  problem?: string;
}

export interface ForcedOptions {
  /** accept-new when the profile says auto_add_host_key, else yes. */
  strict: "yes" | "accept-new";
  /** An askpass helper answers passphrase/password prompts (else BatchMode). */
  askpass: boolean;
  /** The profile declares a password (else password and keyboard-interactive are off). */
  password: boolean;
}

export const DEFAULT_FORCED: ForcedOptions = { strict: "yes", askpass: false, password: false };

const SYSTEM_CONFIG = "/etc/ssh/ssh_config";

/** The text of ssh-mcp's -F file: forced options, then the user's config, then the system's. */
export function forcedConfigText(userConfig: string | null, o: ForcedOptions): string {
  const lines = [
    "# Written by ssh-mcp: the options it forces on every hop, then your own config (docs/configuration.md).",
    `StrictHostKeyChecking ${o.strict}`,
    o.askpass ? "NumberOfPasswordPrompts 1" : "BatchMode yes",
  ];
  if (!o.password) lines.push("PasswordAuthentication no", "KbdInteractiveAuthentication no");
  if (userConfig) lines.push(`Include ${quoteWord(userConfig)}`);
  lines.push(`Include ${SYSTEM_CONFIG}`);
  return lines.join("\n") + "\n";
}

/** A path as one ssh_config word (double quotes when it holds a blank). */
function quoteWord(path: string): string {
  return /[\s"]/.test(path) ? `"${path.replace(/"/g, "")}"` : path;
}

/** Where the -F file goes by default: the runtime directory's `ssh/`. */
export function forcedDir(runtimeDir: string): string {
  return join(runtimeDir, "ssh");
}

/**
 * Writes the -F file in `dir` (0600, named by its content, so every session of the same options
 * shares it) and returns its path. ssh hands the path to a ProxyJump hop inside a
 * shell command, unquoted: a path with anything but `[A-Za-z0-9_./-]` would split or run, so such
 * a runtime directory gives way to a private one under the system's temp directory. A file that
 * is there is used only when it holds exactly the expected text (a truncated one would lose the
 * forced options); it is written to a temporary name and renamed into place.
 */
export function forcedConfigFile(dir: string, userConfig: string | null, o: ForcedOptions): string {
  const text = forcedConfigText(userConfig, o);
  if (!SAFE_PATH.test(dir)) dir = privateDir();
  const file = join(dir, `config-${createHash("sha256").update(text).digest("hex").slice(0, 12)}`);
  if (readOr(file) === text) return file;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** Characters an unquoted shell word keeps as they are (`@`: home directories like jdoe@corp). */
const SAFE_PATH = /^[A-Za-z0-9_./@+,:-]+$/;

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * A private directory for the -F file when the runtime directory's path is not shell-safe:
 * $XDG_RUNTIME_DIR/ssh-mcp (the user's own, 0700), else `<tmp>/ssh-mcp-<uid>`. Each level made
 * here must be a real directory (no symbolic link), this user's, and closed to others; otherwise
 * another local user could swap the file ssh reads.
 */
function privateDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  const xdg = env.XDG_RUNTIME_DIR;
  const tmp = join(SAFE_PATH.test(tmpdir()) ? tmpdir() : "/tmp", `ssh-mcp-${uid}`);
  // A stale XDG_RUNTIME_DIR (after su, in a container) gives way to the temp directory.
  if (xdg && SAFE_PATH.test(xdg) && isAbsolute(xdg)) {
    try {
      return ownedDirs(join(xdg, "ssh-mcp"), uid);
    } catch {
      // fall through
    }
  }
  return ownedDirs(tmp, uid);
}

/** `base` and `base/ssh`, made 0700 if missing; each must be a real directory of `uid`, closed to others. */
function ownedDirs(base: string, uid: number): string {
  for (const dir of [base, join(base, "ssh")]) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new Error(
        `${dir} is not this user's private directory (a link, another owner, or open to others): remove it, or use a runtime directory whose path has no blank or shell character`,
      );
    }
  }
  return join(base, "ssh");
}

/** The environment ssh runs with: the server's, with HOME set (relative Includes and `~` follow it). */
export function sshEnv(env: NodeJS.ProcessEnv, home: string, secretNames: string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, HOME: home };
  for (const name of secretNames) delete out[name];
  return out;
}

const DEFAULT_IDENTITIES = new Set([
  "~/.ssh/id_rsa",
  "~/.ssh/id_ecdsa",
  "~/.ssh/id_ecdsa_sk",
  "~/.ssh/id_ed25519",
  "~/.ssh/id_ed25519_sk",
  "~/.ssh/id_xmss",
  "~/.ssh/id_dsa",
]);

/** Parses `ssh -G` output (one `keyword value` per line). */
export function parseSshG(text: string): SshResolved {
  const one = new Map<string, string>();
  const many = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const key = (m[1] as string).toLowerCase();
    const value = m[2] as string;
    if (!one.has(key)) one.set(key, value);
    many.set(key, [...(many.get(key) ?? []), value]);
  }
  const identityfiles = many.get("identityfile") ?? [];
  const proxyjump = one.get("proxyjump");
  const proxycommand = one.get("proxycommand");
  return {
    user: one.get("user") ?? "",
    hostname: one.get("hostname") ?? "",
    port: Number(one.get("port") ?? 22),
    proxyjump: proxyjump && proxyjump !== "none" ? proxyjump.split(",").map((h) => h.trim()) : [],
    proxycommand: proxycommand && proxycommand !== "none" ? proxycommand : null,
    identityfiles,
    default_identities: identityfiles.length > 0 && identityfiles.every((f) => DEFAULT_IDENTITIES.has(f)),
    certificatefiles: many.get("certificatefile") ?? [],
    forwardagent: one.get("forwardagent") ?? "no",
    stricthostkeychecking: one.get("stricthostkeychecking") ?? "",
    userknownhostsfiles: (one.get("userknownhostsfile") ?? "").split(/\s+/).filter(Boolean),
    globalknownhostsfiles: (one.get("globalknownhostsfile") ?? "").split(/\s+/).filter(Boolean),
    hostkeyalias: one.get("hostkeyalias") ?? null,
    forwards: ["localforward", "remoteforward", "dynamicforward"].flatMap((k) =>
      (many.get(k) ?? []).map((v) => `${k} ${v}`),
    ),
  };
}

export type Resolution = { ok: true; resolved: SshResolved } | { ok: false; problem: string };

/**
 * `ssh -G -F <file> -- <alias>`: what OpenSSH resolves for the alias, or its own words when it
 * refuses (a bad line names its file and line).
 */
export function resolveAlias(
  alias: string,
  configFile: string,
  env: NodeJS.ProcessEnv,
  extra: string[] = [],
): Promise<Resolution> {
  return new Promise((resolve) => {
    execFile(
      "ssh",
      ["-G", "-F", configFile, ...extra, "--", alias],
      { env, timeout: 10_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const words = String(stderr)
            .split("\n")
            .map((l) => l.trim())
            .filter((l) => l && !/^Pseudo-terminal will not be allocated/.test(l));
          resolve({
            ok: false,
            problem: `ssh -G ${alias} failed: ${words.join("; ") || (err as Error).message}`,
          });
          return;
        }
        resolve({ ok: true, resolved: parseSshG(String(stdout)) });
      },
    );
  });
}

/** Runs `tasks` with at most `limit` at once (ssh -G for every alias of a large config). */
export async function inBatches<T>(tasks: (() => Promise<T>)[], limit = 4): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}

/** A ProxyJump hop (`[user@]host[:port]`, `ssh://[user@]host[:port]`, or an alias), as ssh -G resolves it. */
export async function resolveHop(spec: string, configFile: string, env: NodeJS.ProcessEnv): Promise<JumpHop> {
  const m = /^(?:ssh:\/\/)?(?:([^@/]+)@)?(\[[^\]]+\]|[^:/@]+)(?::(\d+))?\/?$/.exec(spec);
  if (!m) return { spec, problem: `ProxyJump hop '${spec}' is not [user@]host[:port]` };
  const extra = [...(m[1] ? ["-l", m[1]] : []), ...(m[3] ? ["-p", m[3]] : [])];
  const r = await resolveAlias((m[2] as string).replace(/^\[|\]$/g, ""), configFile, env, extra);
  if (!r.ok) return { spec, problem: r.problem };
  return { spec, user: r.resolved.user, hostname: r.resolved.hostname, port: r.resolved.port };
}
