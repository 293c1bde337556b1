import { execFile, spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadConfig, type Flags } from "../config/load.js";
import { SshMcpError } from "../errors.js";
import { attachCommand } from "../session/manager.js";
import { Tmux } from "../tmux/client.js";
import { TranscriptWriter } from "../transcript/writer.js";

/** Subcommands for the human at the terminal: ls, attach, doctor. They print to stdout. */

const FIELDS = [
  "#{@ssh_mcp_session_id}",
  "#{@ssh_mcp_profile}",
  "#{@ssh_mcp_server_instance_id}",
  "#{@ssh_mcp_owner_label}",
  "#{@ssh_mcp_created_at}",
  "#{@ssh_mcp_recording}",
];

function out(line: string): void {
  process.stdout.write(line + "\n");
}

/** The operator's viewer URL of a session whose server is running here, from its instance files. */
function operatorUrl(runtimeDir: string, instance: string, id: string): string | undefined {
  if (!/^[\w-][\w.-]*$/.test(instance) || instance.includes("..")) return undefined;
  try {
    const dir = join(runtimeDir, "instances", instance);
    const meta = JSON.parse(readFileSync(join(dir, "server_meta.json"), "utf8")) as {
      viewer_base_url?: string;
    };
    const token = readFileSync(join(dir, "viewer_operator_token"), "utf8").trim();
    return meta.viewer_base_url && token
      ? `${meta.viewer_base_url}/sessions/${id}?token=${token}`
      : undefined;
  } catch {
    return undefined;
  }
}

export async function runLs(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(flags, env);
  const tmux = new Tmux(config.tmuxSocket, { env });
  const panes = (await tmux.listPanes(FIELDS)).filter((p) => p.extra[0]);
  if (!panes.length) {
    out(`No ssh-mcp sessions on tmux socket '${config.tmuxSocket}'.`);
    return 0;
  }
  for (const { info, extra } of panes) {
    const [id = "", profile, instance, owner, created, recordingError] = extra;
    const status = info.dead ? `closed(${info.deadStatus ?? "?"})` : recordingError ? "unhealthy" : "open";
    // Not recording (docs/audit.md): the server refuses input to it until the transcript takes writes.
    const recording = info.dead
      ? ""
      : `  recording=${recordingError ? "unavailable" : info.piped ? "ok" : "lost"}`;
    out(
      `${id}  ${status}${recording}  profile=${profile}  owner=${owner || "-"}  instance=${instance}  created=${created}  attached=${info.attachedClients}\n    ${attachCommand(config.tmuxSocket, id)}`,
    );
    if (recordingError) out(`    ${recordingError}`);
    const viewer = operatorUrl(config.runtimeDir, instance ?? "", id);
    if (viewer) out(`    ${viewer}  (viewer; this URL can take the input lock and type as the human)`);
  }
  return 0;
}

export async function runClose(flags: Flags, env: NodeJS.ProcessEnv, sessionId?: string): Promise<number> {
  if (!sessionId) {
    process.stderr.write("usage: ssh-mcp close <session_id>  (see ssh-mcp ls)\n");
    return 2;
  }
  const config = loadConfig(flags, env);
  const tmux = new Tmux(config.tmuxSocket, { env });
  const pane = (await tmux.listPanes(["#{@ssh_mcp_transcript}"])).find((p) => p.info.sessionId === sessionId);
  if (!pane) {
    process.stderr.write(
      `No ssh-mcp session '${sessionId}' on tmux socket '${config.tmuxSocket}' (see ssh-mcp ls).\n`,
    );
    return 1;
  }
  await tmux.killSession(sessionId);
  if (pane.extra[0]) {
    const writer = new TranscriptWriter(pane.extra[0], sessionId);
    writer.write("session_health", { health_status: "closed", health_error: "closed by ssh-mcp close" });
    writer.write("event", { event: "closed", reason: "closed by ssh-mcp close", actor: "human" });
    writer.close();
  }
  out(`Closed ${sessionId}.`);
  return 0;
}

export async function runAttach(flags: Flags, env: NodeJS.ProcessEnv, sessionId?: string): Promise<number> {
  if (!sessionId) {
    process.stderr.write("usage: ssh-mcp attach <session_id>  (see ssh-mcp ls)\n");
    return 2;
  }
  const config = loadConfig(flags, env);
  // Said in plain words before tmux would print its own terse error.
  const panes = await new Tmux(config.tmuxSocket, { env }).listPanes().catch(() => []);
  if (!panes.some((p) => p.info.sessionId === sessionId)) {
    process.stderr.write(
      `No ssh-mcp session '${sessionId}' on tmux socket '${config.tmuxSocket}'. ssh-mcp ls lists the sessions there.\n`,
    );
    return 1;
  }
  const childEnv = { ...env };
  delete childEnv.TMUX;
  delete childEnv.TMUX_PANE;
  return new Promise((resolve) => {
    const child = spawn("tmux", ["-L", config.tmuxSocket, "attach", "-t", `=${sessionId}`], {
      stdio: "inherit",
      env: childEnv,
    });
    child.on("exit", (code) => resolve(code ?? 1));
    child.on("error", (err) => {
      process.stderr.write(`Could not run tmux: ${err.message}\n`);
      resolve(1);
    });
  });
}

function version(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) =>
      resolve(err ? undefined : (stdout || stderr).trim().split("\n")[0]),
    );
  });
}

export async function runDoctor(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  let problems = 0;
  const report = (ok: boolean, what: string, fix?: string): void => {
    out(`${ok ? "ok  " : "FAIL"} ${what}${!ok && fix ? `\n     fix: ${fix}` : ""}`);
    if (!ok) problems++;
  };
  const tmuxV = await version("tmux", ["-V"]);
  const [major = 0, minor = 0] = (/(\d+)\.(\d+)/.exec(tmuxV ?? "") ?? []).slice(1).map(Number);
  report(
    Boolean(tmuxV) && (major > 3 || (major === 3 && minor >= 2)),
    `tmux: ${tmuxV ?? "not found"} (3.2 or newer needed)`,
    "install or upgrade tmux (apt-get install tmux / brew install tmux)",
  );
  const sshV = await version("ssh", ["-V"]);
  report(
    Boolean(sshV),
    `ssh: ${sshV ?? "not found"}`,
    "install the OpenSSH client (apt-get install openssh-client)",
  );
  let config;
  try {
    config = loadConfig(flags, env);
    report(
      true,
      `config: ${config.configPath}${config.configFound ? "" : " (not found: no profiles; copy config/profiles.example.json)"}`,
    );
  } catch (err) {
    report(
      false,
      `config: ${err instanceof SshMcpError ? err.message : String(err)}`,
      "fix the file named above",
    );
    return 1;
  }
  for (const p of Object.values(config.profiles)) {
    // The built-in lab makes its key and known_hosts when it first starts: nothing to fix.
    const onDemand = Boolean((p as { lab?: unknown }).lab);
    if (onDemand) {
      report(true, `profile ${p.name}: the built-in lab (its key and host key are made when it starts)`);
      continue;
    }
    if (p.key_filename) {
      let readable = existsSync(p.key_filename);
      try {
        accessSync(p.key_filename, constants.R_OK);
      } catch {
        readable = false;
      }
      report(readable, `profile ${p.name}: key ${p.key_filename}`, "fix key_filename or create the key");
    }
    for (const name of [p.passphrase_env, p.password_env]) {
      if (name)
        report(
          Boolean(env[name]),
          `profile ${p.name}: $${name} is ${env[name] ? "set" : "not set"}`,
          `export ${name} in the MCP server's environment`,
        );
    }
    if (p.known_hosts_file)
      report(
        // accept-new: a missing file is created on the first connection.
        existsSync(p.known_hosts_file) || p.auto_add_host_key,
        `profile ${p.name}: known_hosts ${p.known_hosts_file}${!existsSync(p.known_hosts_file) && p.auto_add_host_key ? " (created on first connect: auto_add_host_key)" : ""}`,
        `ssh-keyscan -p ${p.port} ${p.host} >> ${p.known_hosts_file} (after checking the fingerprint)`,
      );
  }
  // The audit (docs/audit.md): sessions refuse input when their transcript cannot be written.
  const audit = auditSpace(config.transcriptsDir ?? config.runtimeDir);
  report(audit.ok, `transcripts: ${audit.what}`, audit.fix);
  const tmuxForLs = new Tmux(config.tmuxSocket, { env });
  const stuck = (
    await tmuxForLs.listPanes(["#{@ssh_mcp_session_id}", "#{@ssh_mcp_recording}"]).catch(() => [])
  )
    .filter((p) => p.extra[0] && p.extra[1] && !p.info.dead)
    .map((p) => `${p.extra[0]} (${p.extra[1]})`);
  report(
    !stuck.length,
    stuck.length ? `sessions not recording: ${stuck.join(", ")}` : "every open session is recording",
    "free space in the transcripts directory or fix its permissions; recording resumes by itself",
  );
  out(`tmux socket: ${config.tmuxSocket}; runtime dir: ${config.runtimeDir}`);
  out(problems ? `${problems} problem(s) found.` : "All checks passed.");
  return problems ? 1 : 0;
}

/** Whether the transcripts directory takes writes, with room to spare (16 MiB). */
function auditSpace(dir: string): { ok: boolean; what: string; fix?: string } {
  try {
    // Not created here: the nearest directory that exists must let the server create the rest.
    let at = dir;
    while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
    accessSync(at, constants.W_OK);
    const st = statfsSync(at);
    const free = st.bavail * st.bsize;
    const mib = Math.floor(free / 1024 / 1024);
    return free >= 16 * 1024 * 1024
      ? { ok: true, what: `${dir} (${mib} MiB free)` }
      : {
          ok: false,
          what: `${dir} has ${mib} MiB free`,
          fix: "free space there: a full disk stops every session's input",
        };
  } catch (err) {
    return {
      ok: false,
      what: `${dir}: ${(err as Error).message}`,
      fix: "make it writable by the server's user",
    };
  }
}
