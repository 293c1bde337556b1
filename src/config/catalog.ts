import { realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { watch, type FSWatcher } from "chokidar";
import picomatch from "picomatch";
import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import type { Config, ProfileSet } from "./load.js";
import { canonicalHost, routeOf } from "./adhoc.js";
import type { Profile } from "./schema.js";
import {
  DEFAULT_FORCED,
  forcedConfigFile,
  forcedDir,
  inBatches,
  resolveAlias,
  resolveHop,
  sshEnv,
  type JumpHop,
  type Resolution,
} from "./ssh-resolve.js";

/**
 * The profiles in force, kept live (docs/configuration.md, "Live reload").
 *
 * The profiles file and every ssh config file read (Includes too, and the directories Include
 * patterns look in) are watched with chokidar. An edit is read anew after a short quiet; every
 * ssh config alias is resolved with `ssh -G`; then the new profiles replace the old ones in
 * place (config.profiles keeps its identity, so every holder sees them at its next lookup) and
 * the next open_session uses them. Sessions already open keep what they were opened with.
 *
 * A broken edit (a profiles file that does not parse or validate, an ssh config that ssh itself
 * refuses) changes nothing: the last good configuration stays in force, and the error (naming
 * file and line) is shown by list_profiles, the log and doctor until an edit fixes it.
 */
export interface ConfigError {
  /** Which reading failed: the profiles file (JSON, schema) or the ssh config (ssh refuses it). */
  source: "profiles_file" | "ssh_config";
  message: string;
  at: string;
}

/**
 * An alias no config matches: resolving it checks the config as a whole (a bad line fails every
 * alias). Without canonicalisation, a config that canonicalises host names does not fail it for
 * a name that does not resolve.
 */
const CHECK_ALIAS = "ssh-mcp-config-check.invalid";
const CHECK_OPTIONS = ["-o", "CanonicalizeHostname=no"];

/** How often directories that did not exist are looked for again. */
const RECHECK_MS = 5000;

export class ProfileCatalog {
  /** The last reading's failure (the configuration in force is the last good one); null when none. */
  error: ConfigError | null = null;
  /** Settles when the profiles in force are resolved (ssh -G); list_profiles and open_session wait for it. */
  settled: Promise<void> = Promise.resolve();
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private generation = 0;
  private watched = new Set<string>();
  private recheck?: NodeJS.Timeout;
  /** The last reading (good or refused): its files are watched, so fixing a broken one is seen. */
  private lastRead?: ProfileSet;
  /** What a change must touch to be read again: the files read, and the Include patterns. */
  relevant: (path: string) => boolean = () => false;

  constructor(
    private readonly config: Config,
    private readonly deps: {
      env: NodeJS.ProcessEnv;
      logger?: Logger;
      secretNames: () => string[];
      /** Where ssh-mcp's -F file goes (default runtimeDir/ssh); doctor uses a temporary one. */
      forcedDir?: string;
      /** How often missing directories are looked for (default 5 s; tests use less). */
      recheckMs?: number;
    },
  ) {}

  /** Resolves the initial configuration's ssh aliases; the server answers meanwhile. */
  start(watchFiles = true): void {
    const set = this.config.profileSet;
    const generation = ++this.generation;
    this.settled = this.resolve(set).then((error) => {
      // An edit read meanwhile decides (its own error, or none).
      if (generation !== this.generation) return;
      this.error = error;
      if (error) this.deps.logger?.warn("ssh config refused by ssh", { error: error.message });
      this.logNotes(set);
    });
    if (watchFiles) {
      this.watchFiles(set);
      // A directory that does not exist yet (~/.config/ssh-mcp before the first profiles file)
      // cannot be watched: look for it now and then.
      this.recheck = setInterval(
        () => this.watchFiles(this.lastRead ?? this.config.profileSet, true),
        this.deps.recheckMs ?? RECHECK_MS,
      );
      this.recheck.unref();
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.recheck) clearInterval(this.recheck);
    void this.watcher?.close();
    this.watcher = undefined;
  }

  /**
   * Reads the configuration anew now (what a file change triggers, after a short quiet). Until it
   * is done, `settled` waits for it: the next open_session uses what it read.
   */
  reload(): Promise<void> {
    const run = this.readAgain().catch((err: unknown) =>
      this.fail({ source: "ssh_config", message: errorMessage(err), at: new Date().toISOString() }),
    );
    this.settled = run;
    return run;
  }

  private async readAgain(): Promise<void> {
    const generation = ++this.generation;
    let set: ProfileSet;
    try {
      set = this.config.reload();
    } catch (err) {
      this.fail({ source: "profiles_file", message: errorMessage(err), at: new Date().toISOString() });
      return;
    }
    const error = await this.resolve(set);
    if (generation !== this.generation) return; // a newer edit is being read
    // The files may have changed (an Include added): watch what this reading read, good or not.
    this.lastRead = set;
    this.watchFiles(set);
    if (error) {
      this.fail(error);
      return;
    }
    this.apply(set);
  }

  private fail(error: ConfigError): void {
    this.error = error;
    this.deps.logger?.warn("configuration not reloaded: the last good one stays in force", {
      error: error.message,
    });
  }

  private apply(set: ProfileSet): void {
    const profiles = this.config.profiles;
    for (const name of Object.keys(profiles)) delete profiles[name];
    Object.assign(profiles, set.profiles);
    set.profiles = profiles;
    this.config.profileSet = set;
    this.config.configFound = set.found;
    this.error = null;
    this.deps.logger?.info("configuration reloaded", {
      profiles: Object.keys(profiles).length,
      ssh_config: set.sshConfigPath,
    });
    this.logNotes(set);
  }

  private logNotes(set: ProfileSet): void {
    for (const n of set.notes)
      this.deps.logger?.warn("ssh config note", { file: n.file, line: n.line ?? null, note: n.message });
  }

  /**
   * `ssh -G` for every ssh config profile of `set` (fills host, port and `ssh`, or `sshProblem`).
   * Returns the error that refuses the whole ssh config (ssh's own words, naming file and line).
   */
  private async resolve(set: ProfileSet): Promise<ConfigError | null> {
    try {
      return await this.resolveAll(set);
    } catch (err) {
      // Never a rejection: `settled` is awaited by every open_session and list_profiles.
      const message = `ssh config profiles cannot be resolved: ${errorMessage(err)}`;
      for (const p of Object.values(set.profiles)) if (p.ssh_config_host) p.sshProblem = message;
      return { source: "ssh_config", message, at: new Date().toISOString() };
    }
  }

  private async resolveAll(set: ProfileSet): Promise<ConfigError | null> {
    const aliases = Object.values(set.profiles).filter((p) => p.ssh_config_host);
    if (!aliases.length) return null;
    const file = forcedConfigFile(
      this.deps.forcedDir ?? forcedDir(this.config.runtimeDir),
      set.sshConfigPath,
      DEFAULT_FORCED,
    );
    const env = sshEnv(this.deps.env, this.config.home, this.deps.secretNames());
    const check = await resolveAlias(CHECK_ALIAS, file, env, CHECK_OPTIONS);
    if (!check.ok) {
      const message = /ENOENT/.test(check.problem)
        ? "ssh (the OpenSSH client) is not on the PATH: ssh config profiles need it (ssh -G resolves them, ssh connects them)"
        : check.problem.replace(`ssh -G ${CHECK_ALIAS} failed: `, "ssh refuses the ssh config: ");
      // Nothing was in force yet (the server's start): the profiles stay, each saying why.
      for (const p of aliases) p.sshProblem = message;
      return { source: "ssh_config", message, at: new Date().toISOString() };
    }
    const results = await inBatches(
      aliases.map((p) => () => resolveAlias(p.ssh_config_host as string, file, env)),
    );
    aliases.forEach((p, i) => applyResolution(p, results[i] as Resolution));
    // The jump chain, hop by hop (list_profiles shows it; the ssh2 bridge connects through it).
    const hops = new Map<string, Promise<JumpHop>>();
    for (const p of aliases)
      for (const spec of p.ssh?.proxyjump ?? [])
        if (!hops.has(spec)) hops.set(spec, resolveHop(spec, file, env));
    for (const p of aliases)
      if (p.ssh) p.ssh.jumps = await Promise.all(p.ssh.proxyjump.map((h) => hops.get(h) as Promise<JumpHop>));
    // Entries whose host is an alias: what ssh reaches for them (ssh applies that Host's block).
    const named = Object.values(set.profiles).filter(
      (p) => p.origin?.kind === "profiles_file" && !p.ssh_config_host && set.sshAliases.includes(p.host),
    );
    const reached = await inBatches(
      named.map((p) => () => resolveAlias(p.host, file, env, ["-p", String(p.port)])),
    );
    named.forEach((p, i) => {
      const r = reached[i] as Resolution;
      if (r.ok) p.reaches = r.resolved.hostname;
    });
    dropTwins(set);
    return null;
  }

  /**
   * Watches the directories holding the files read and those Include patterns look in (a file
   * created later, or replaced by an editor, is seen); only a change to a file read, or to one an
   * Include pattern names, is read again (not known_hosts or a ControlMaster socket next to them).
   */
  private watchFiles(set: ProfileSet, quiet = false): void {
    const read = [this.config.configPath, ...set.sshFiles, ...this.config.profileSet.sshFiles];
    // A symbolic link (a dotfiles checkout) changes where its target is: watch both.
    const files = new Set([...read, ...read.map(realPathOr)]);
    const patterns = [...set.sshPatterns, ...this.config.profileSet.sshPatterns].map((p) =>
      picomatch(p, { dot: false }),
    );
    this.relevant = (path) => files.has(path) || patterns.some((m) => m(path));
    const dirs = new Set([...[...files].map((f) => dirname(f)), ...set.sshDirs]);
    const wanted = [...dirs].filter((d) => !this.watched.has(d) && isDir(d));
    if (!this.watcher) {
      this.watcher = watch([], { ignoreInitial: true, depth: 0, persistent: false });
      this.watcher.on("error", (err) =>
        this.deps.logger?.debug("config watcher error", { error: errorMessage(err) }),
      );
      this.watcher.on("all", (_event, path) => {
        if (!this.relevant(path)) return;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload(), 150);
        this.timer.unref();
      });
    }
    if (!wanted.length) return;
    for (const d of wanted) this.watched.add(d);
    this.watcher.add(wanted);
    // A directory that appeared since the last look may already hold a file to read.
    if (quiet) void this.reload();
  }
}

function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * An ssh config Host that reaches the host and port of a restricted profiles-file entry (a
 * security mode, approvals) the same way (directly, or through the same hops) is no profile of
 * its own: it would be the same machine without the restriction. It goes, with a note naming
 * the entry, and ad-hoc targets naming it are sent to the entry.
 */
function dropTwins(set: ProfileSet): void {
  const key = (p: Profile): string => `${canonicalHost(p.reaches ?? p.host)}:${p.port} ${routeOf(p)}`;
  const restricted = new Map<string, Profile>();
  for (const p of Object.values(set.profiles))
    if (
      p.origin?.kind === "profiles_file" &&
      (p.security.mode !== "unrestricted" || p.confirm_patterns?.length)
    )
      restricted.set(key(p), p);
  for (const p of Object.values(set.profiles)) {
    const owner = p.origin?.kind === "ssh_config" && p.ssh ? restricted.get(key(p)) : undefined;
    if (!owner) continue;
    delete set.profiles[p.name];
    set.owners[p.name] = owner.name;
    set.notes.push({
      file: p.origin?.file ?? "",
      ...(p.origin?.line ? { line: p.origin.line } : {}),
      info: true,
      message: `Host ${p.name} is not a profile: it reaches ${p.host}:${p.port} as profile '${owner.name}' does, which opens it ${owner.security.mode === "unrestricted" ? "with approvals" : `${owner.security.mode}`}. Open '${owner.name}'.`,
    });
  }
}

/** What ssh -G said for a profile's alias: its real host, port and user, or why it refused. */
function applyResolution(p: Profile, r: Resolution): void {
  if (!r.ok) {
    p.sshProblem = r.problem;
    return;
  }
  p.ssh = r.resolved;
  delete p.sshProblem;
  // What ssh will reach, whatever host the profile names (ssh connects to the alias): shown,
  // checked against known_hosts and recorded in the transcript.
  p.host = r.resolved.hostname;
  p.port = r.resolved.port;
}
