import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, statSync, statfsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProfileCatalog } from "../config/catalog.js";
import { loadConfig, secretEnvNames, type Config, type Flags } from "../config/load.js";
import { describeOrigin, profileProblems } from "../ssh/profile-view.js";
import { defaultConfigPath, unreadLegacyConfig } from "../config/paths.js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import { labPortState, sshBanner } from "../ssh/lab.js";
import { TAG_FORMAT } from "../session/tags.js";
import { Tmux } from "../tmux/client.js";

/**
 * `ssh-mcp doctor`: one line per thing a first open_session, the lab, the demo and the viewer
 * need, each failure followed by the one line that fixes it. Exit 0 means a first open_session
 * of every profile can work: tools present, the profiles file valid, keys readable, secrets set,
 * host keys known (or accepted on first use), every direct host answering SSH, the lab's port
 * usable, the runtime directory writable with room for transcripts. doctor creates nothing.
 */
export interface Check {
  ok: boolean;
  what: string;
  /** One line a human can run or do; shown under a failure. */
  fix?: string;
}

function version(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env }, (err, stdout, stderr) =>
      resolve(err ? undefined : (stdout || stderr).trim().split("\n")[0]),
    );
  });
}

async function toolChecks(env: NodeJS.ProcessEnv): Promise<Check[]> {
  const [tmuxV, sshV] = await Promise.all([version("tmux", ["-V"], env), version("ssh", ["-V"], env)]);
  const [major = 0, minor = 0] = (/(\d+)\.(\d+)/.exec(tmuxV ?? "") ?? []).slice(1).map(Number);
  return [
    {
      ok: Boolean(tmuxV) && (major > 3 || (major === 3 && minor >= 2)),
      what: `tmux: ${tmuxV ?? "not found"} (3.2 or newer needed)`,
      fix: "install or upgrade tmux (apt-get install tmux / brew install tmux)",
    },
    {
      ok: Boolean(sshV),
      what: `ssh: ${sshV ?? "not found"}`,
      fix: "install the OpenSSH client (apt-get install openssh-client)",
    },
  ];
}

/** A profiles file the defaults no longer read: the working directory's config/profiles.json. */
function legacyConfigCheck(config: Config, flags: Flags, env: NodeJS.ProcessEnv, cwd: string): Check[] {
  const legacy = unreadLegacyConfig(flags.config, env, cwd, config.configPath);
  if (!legacy) return [];
  const target = defaultConfigPath(env);
  return [
    {
      ok: false,
      what: `${legacy} is not read: profiles are read from ${config.configPath}`,
      fix: `mkdir -p ${shellWord(dirname(target))} && mv -n ${shellWord(legacy)} ${shellWord(target)}  (or set SSH_MCP_CONFIG=${shellWord(legacy)})`,
    },
  ];
}

/** A path as one shell word: quoted only when it needs to be. */
function shellWord(p: string): string {
  return /^[\w./~+-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The ssh config whose Hosts are profiles: read, accepted by ssh itself (ssh -G), and what is
 * wrong in it (an Include loop, a Host shadowed by a built-in). Resolves every alias, so the
 * profile checks see what ssh will do; the -F file goes to a temporary directory (doctor
 * creates nothing).
 */
async function sshConfigChecks(config: Config, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const set = config.profileSet;
  if (!set.sshConfigPath)
    return [{ ok: true, what: "ssh config: not read (ssh_config false or SSH_MCP_SSH_CONFIG=off)" }];
  const hosts = Object.values(config.profiles).filter((p) => p.origin?.kind === "ssh_config").length;
  const tmp = mkdtempSync(join(tmpdir(), "ssh-mcp-doctor-"));
  let error: string | undefined;
  try {
    const catalog = new ProfileCatalog(config, {
      env,
      secretNames: () => secretEnvNames(config),
      forcedDir: join(tmp, "ssh"),
    });
    catalog.start(false);
    await catalog.settled;
    error = catalog.error?.message;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const checks: Check[] = [
    error
      ? {
          ok: false,
          what: `ssh config: ${error}`,
          fix: "fix the line ssh names above (ssh -G <alias> shows it too)",
        }
      : {
          ok: true,
          what: `ssh config: ${set.sshConfigPath}${existsSync(set.sshConfigPath) ? ` (${hosts} Host alias(es) as profiles, ${set.sshFiles.length} file(s) read)` : " (not found: no ssh config profiles)"}`,
        },
  ];
  for (const n of set.notes)
    checks.push({
      ok: Boolean(n.info),
      what: `ssh config: ${n.file}${n.line ? `:${n.line}` : ""}: ${n.message}`,
      fix: "edit the line named above",
    });
  return checks;
}

async function reachCheck(p: Profile): Promise<Check> {
  const where = `${p.host}:${p.port}`;
  if (p.proxy_jump || p.ssh_config_host) {
    const via = p.proxy_jump ? `proxy_jump ${p.proxy_jump}` : `ssh config Host ${p.ssh_config_host}`;
    return { ok: true, what: `profile ${p.name}: reached through ${via} (not checked from here)` };
  }
  const banner = await sshBanner(p.host, p.port, 3000);
  if (banner === undefined) {
    return {
      ok: false,
      what: `profile ${p.name}: nothing answers on ${where}`,
      fix: "check the profile's host and port, and that sshd runs there and this machine may reach it",
    };
  }
  const ssh = banner.startsWith("SSH-");
  return {
    ok: ssh,
    what: `profile ${p.name}: ${where} ${ssh ? `answers ${banner}` : banner ? `answers, but not as an SSH server (${banner.slice(0, 60)})` : "accepts connections but says nothing (not an SSH server)"}`,
    fix: "point the profile's port at the SSH server",
  };
}

async function profileChecks(p: Profile, env: NodeJS.ProcessEnv, home: string): Promise<Check[]> {
  const checks: Check[] = [];
  if (p.ssh_config_host) {
    const problems = profileProblems(p, home);
    checks.push(
      ...(problems.length
        ? problems.map((why) => ({
            ok: false,
            what: `profile ${p.name} (${describeOrigin(p)}): ${why}`,
            fix: "fix the ssh config or the key named above; diagnose_profile shows the details",
          }))
        : [
            {
              ok: true,
              what: `profile ${p.name} (${describeOrigin(p)}): ${p.ssh ? `${p.ssh.user}@${p.ssh.hostname}:${p.ssh.port}${p.ssh.proxyjump.length ? ` via ${p.ssh.proxyjump.join(",")}` : ""}` : "resolved"}`,
            },
          ]),
    );
  }
  if (p.key_filename) {
    checks.push({
      ok: readable(p.key_filename),
      what: `profile ${p.name}: key ${p.key_filename}`,
      fix: "fix key_filename or create the key",
    });
  }
  for (const name of [p.passphrase_env, p.password_env]) {
    if (!name) continue;
    checks.push({
      ok: Boolean(env[name]),
      what: `profile ${p.name}: $${name} is ${env[name] ? "set" : "not set"}`,
      fix: `export ${name} in the MCP server's environment`,
    });
  }
  if (p.known_hosts_file) {
    const exists = existsSync(p.known_hosts_file);
    checks.push({
      // accept-new: a missing file is created on the first connection.
      ok: exists || p.auto_add_host_key,
      what: `profile ${p.name}: known_hosts ${p.known_hosts_file}${!exists && p.auto_add_host_key ? " (created on first connect: auto_add_host_key)" : ""}`,
      fix: `ssh-keyscan -p ${p.port} ${p.host} >> ${p.known_hosts_file} (after checking the fingerprint)`,
    });
  }
  checks.push(await reachCheck(p));
  return checks;
}

/** What the built-in lab (and so `ssh-mcp demo`) needs: bash, node-pty, its port, the pod's shell. */
async function labChecks(config: Config, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const lab = Object.values(config.profiles).find((p) => p.lab)?.lab;
  if (!lab) return [];
  const checks: Check[] = [];
  const bash = await version("bash", ["--version"], env);
  checks.push({
    ok: Boolean(bash),
    what: `lab: bash ${bash ? "found" : "not found"} (the lab's hosts are bash scripts)`,
    fix: "install bash (apt-get install bash / brew install bash)",
  });
  let pty: string | undefined;
  try {
    await import("node-pty");
  } catch (err) {
    pty = (err as Error).message.split("\n")[0];
  }
  checks.push({
    ok: !pty,
    what: `lab: node-pty ${pty ? `does not load (${pty})` : "loads"}`,
    fix: "run npm install again in ssh-mcp's directory (node-pty is compiled for this Node version)",
  });
  const state = await labPortState(lab);
  const port = `${lab.host}:${lab.port}`;
  const portCheck: Record<typeof state.kind, Check> = {
    free: { ok: true, what: `lab: port ${port} is free (the lab starts there on demand)` },
    ours: { ok: true, what: `lab: running on ${port} (${lab.dir})` },
    "other-lab": {
      ok: false,
      what: `lab: port ${port} is served by the lab of another runtime directory`,
      fix: "set SSH_MCP_LAB_PORT to a free port, or SSH_MCP_RUNTIME_DIR to that lab's directory",
    },
    silent: {
      ok: false,
      what: `lab: something listens on ${port} but does not greet as an SSH server`,
      fix: "set SSH_MCP_LAB_PORT to a free port (e.g. SSH_MCP_LAB_PORT=2223)",
    },
    "other-ssh": {
      ok: false,
      what: `lab: port ${port} is taken by another SSH server (${state.kind === "other-ssh" ? state.banner : ""})`,
      fix: "set SSH_MCP_LAB_PORT to a free port (e.g. SSH_MCP_LAB_PORT=2223)",
    },
  };
  checks.push(portCheck[state.kind]);
  // Not a failure either way: without a static busybox the pod's shell is a plain sh in the
  // pod's own directory (docs/lab-and-viewer.md).
  const busybox = await version("busybox", ["--help"], env);
  checks.push({
    ok: true,
    what: busybox
      ? "lab: busybox found: the pod's shell runs in the pod's own root where chroot or a user namespace allows, else in the pod's directory"
      : "lab: no busybox: the pod's shell is a plain sh in the pod's directory (its logs: var/log/app)",
  });
  return checks;
}

/** The viewer's static files (xterm.js and the pages' script and style). */
function viewerChecks(config: Config): Check[] {
  const require = createRequire(import.meta.url);
  const assets = fileURLToPath(new URL("../viewer/assets/", import.meta.url));
  let xterm: string | undefined;
  try {
    xterm = require.resolve("@xterm/xterm/lib/xterm.js");
  } catch {
    xterm = undefined;
  }
  const port = config.viewerPort === "off" ? "off" : `${config.viewerHost}:${String(config.viewerPort)}`;
  return [
    {
      ok: Boolean(xterm) && existsSync(assets),
      what: `viewer (${port}): ${xterm && existsSync(assets) ? "its pages and xterm.js are in place" : "its files are missing"}`,
      fix: "run npm install && npm run build in ssh-mcp's directory",
    },
  ];
}

/** Whether a directory takes writes, with room to spare (16 MiB). Not created here. */
export function spaceCheck(label: string, dir: string): Check {
  try {
    // The nearest directory that exists must let the server create the rest.
    let at = dir;
    while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
    if (!statSync(at).isDirectory()) {
      return {
        ok: false,
        what: `${label}: ${at} is not a directory`,
        fix: `move ${at} aside, or set another directory`,
      };
    }
    accessSync(at, constants.W_OK);
    const st = statfsSync(at);
    const free = st.bavail * st.bsize;
    const mib = Math.floor(free / 1024 / 1024);
    return free >= 16 * 1024 * 1024
      ? { ok: true, what: `${label}: ${dir} (${mib} MiB free)` }
      : {
          ok: false,
          what: `${label}: ${dir} has ${mib} MiB free`,
          fix: "free space there: a full disk stops every session's input",
        };
  } catch (err) {
    return {
      ok: false,
      what: `${label}: ${dir}: ${(err as Error).message}`,
      fix: "make it writable by the server's user",
    };
  }
}

/** tmux's own answer on the socket: undefined when it lists (or no server runs there yet). */
function tmuxTrouble(socket: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("tmux", ["-L", socket, "list-sessions"], { env }, (err, _out, stderr) => {
      const text = String(stderr).trim();
      // tmux missing is the tools check's failure, not this one's.
      if ((err as { code?: unknown } | null)?.code === "ENOENT") return resolve(undefined);
      resolve(
        !err || /no server running|error connecting|No such file/i.test(text)
          ? undefined
          : text || err.message,
      );
    });
  });
}

async function recordingCheck(config: Config, env: NodeJS.ProcessEnv): Promise<Check> {
  const trouble = await tmuxTrouble(config.tmuxSocket, env);
  if (trouble) {
    return {
      ok: false,
      what: `sessions: tmux could not list the sessions on socket ${config.tmuxSocket} (${trouble.slice(0, 120)})`,
      fix: "check the socket's permissions (tmux -L SOCKET ls), or set SSH_MCP_TMUX_SOCKET",
    };
  }
  const tmux = new Tmux(config.tmuxSocket, { env });
  const stuck = (await tmux.listPanes([TAG_FORMAT.sessionId, TAG_FORMAT.recording]).catch(() => []))
    .filter((p) => p.extra[0] && p.extra[1] && !p.info.dead)
    .map((p) => `${p.extra[0]} (${p.extra[1]})`);
  return {
    ok: !stuck.length,
    what: stuck.length ? `sessions not recording: ${stuck.join(", ")}` : "every open session is recording",
    fix: "free space in the transcripts directory or fix its permissions; recording resumes by itself",
  };
}

function loadChecked(
  flags: Flags,
  env: NodeJS.ProcessEnv,
  cwd: string,
): { config?: Config; checks: Check[] } {
  try {
    const config = loadConfig(flags, env, cwd);
    const found = config.configFound
      ? `config: ${config.configPath}`
      : `config: ${config.configPath} (not found: only the built-in lab profiles; copy config/profiles.example.json there)`;
    return { config, checks: [{ ok: true, what: found }, ...legacyConfigCheck(config, flags, env, cwd)] };
  } catch (err) {
    return {
      checks: [
        {
          ok: false,
          what: `config: ${err instanceof SshMcpError ? err.message : String(err)}`,
          fix: "fix the file named above",
        },
      ],
    };
  }
}

/** Every check, in the order printed. */
export async function doctorChecks(flags: Flags, env: NodeJS.ProcessEnv, cwd: string): Promise<Check[]> {
  const tools = await toolChecks(env);
  const { config, checks: configChecks } = loadChecked(flags, env, cwd);
  if (!config) return [...tools, ...configChecks];
  const profiles = Object.values(config.profiles).filter((p) => !p.lab);
  const sshChecks = await sshConfigChecks(config, env);
  const perProfile = (await Promise.all(profiles.map((p) => profileChecks(p, env, config.home)))).flat();
  const builtin = Object.values(config.profiles)
    .filter((p) => p.lab)
    .map((p) => ({
      ok: true,
      what: `profile ${p.name}: the built-in lab (its keys are made when it starts)`,
    }));
  const runtime = [spaceCheck("runtime dir", config.runtimeDir)];
  if (config.transcriptsDir) runtime.push(spaceCheck("transcripts", config.transcriptsDir));
  return [
    ...tools,
    ...configChecks,
    ...sshChecks,
    ...perProfile,
    ...builtin,
    ...(await labChecks(config, env)),
    ...viewerChecks(config),
    ...runtime,
    await recordingCheck(config, env),
    { ok: true, what: `tmux socket: ${config.tmuxSocket}` },
  ];
}

export async function runDoctor(flags: Flags, env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<number> {
  const checks = await doctorChecks(flags, env, cwd);
  for (const c of checks) {
    process.stdout.write(
      `${c.ok ? "ok  " : "FAIL"} ${c.what}${!c.ok && c.fix ? `\n     fix: ${c.fix}` : ""}\n`,
    );
  }
  const problems = checks.filter((c) => !c.ok).length;
  process.stdout.write(problems ? `${problems} problem(s) found.\n` : "All checks passed.\n");
  return problems ? 1 : 0;
}
