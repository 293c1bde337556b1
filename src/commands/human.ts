import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, type Flags } from "../config/load.js";
import { attachCommand } from "../session/manager.js";
import { TAG_FORMAT } from "../session/tags.js";
import { Tmux, withoutTmuxEnv } from "../tmux/client.js";
import { TranscriptWriter } from "../transcript/writer.js";

/** Subcommands for the human at the terminal: ls, attach, close (doctor: doctor.ts). They print to stdout. */

const FIELDS = [
  TAG_FORMAT.sessionId,
  TAG_FORMAT.profile,
  TAG_FORMAT.serverInstanceId,
  TAG_FORMAT.ownerLabel,
  TAG_FORMAT.createdAt,
  TAG_FORMAT.recording,
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
  const pane = (await tmux.listPanes([TAG_FORMAT.transcript, TAG_FORMAT.sessionId])).find(
    (p) => p.extra[1] === sessionId,
  );
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
  const panes = await new Tmux(config.tmuxSocket, { env }).listPanes([TAG_FORMAT.sessionId]).catch(() => []);
  if (!panes.some((p) => p.extra[0] === sessionId)) {
    process.stderr.write(
      `No ssh-mcp session '${sessionId}' on tmux socket '${config.tmuxSocket}'. ssh-mcp ls lists the sessions there.\n`,
    );
    return 1;
  }
  const childEnv = withoutTmuxEnv(env);
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
