#!/usr/bin/env node
/**
 * Argument parsing: picks a subcommand and hands over. Nothing else lives here. Each
 * subcommand's module is imported when it runs: `serve` starts without loading the lab's SSH
 * server or node-pty (start-up time counts toward adoption; see docs/performance.md).
 */
import { parseArgs } from "node:util";
import { runtimeDirFrom } from "./config/paths.js";
import { errorMessage } from "./errors.js";

const human = () => import("./commands/human.js");

const USAGE = `ssh-mcp - persistent interactive SSH terminals for MCP clients, living in tmux

Usage:
  ssh-mcp [serve] [--config FILE] [--runtime-dir DIR] [--viewer-host H] [--viewer-port auto|N|off]
  ssh-mcp demo                  walk bastion menu -> master -> pod on the built-in lab, leave the session open
  ssh-mcp lab [--port N]        run the CMSM bastion lab SSH server in the foreground (default port 2222)
  ssh-mcp viewer [--port N] [--transcripts-dir DIR]   the browser history viewer on its own
  ssh-mcp bench [--quick] [--sessions N]   measure each performance figure against its floor
  ssh-mcp ls                    list ssh-mcp sessions on the tmux socket
  ssh-mcp attach <session_id>   attach this terminal to a session (tmux attach)
  ssh-mcp close <session_id>    end a session (its transcript is kept)
  ssh-mcp doctor                check tmux, ssh, config, keys and say how to fix what is missing

Files (docs/configuration.md): profiles in --config, $SSH_MCP_CONFIG, else
~/.config/ssh-mcp/profiles.json; sessions' transcripts, logs and the lab in --runtime-dir,
$SSH_MCP_RUNTIME_DIR, else ~/.local/state/ssh-mcp (XDG_CONFIG_HOME / XDG_STATE_HOME apply).
`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const sub = first === undefined || first.startsWith("-") ? "serve" : first;
  const args = sub === "serve" && first !== "serve" ? argv : rest;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string" },
      "runtime-dir": { type: "string" },
      "viewer-host": { type: "string" },
      "viewer-port": { type: "string" },
      port: { type: "string" },
      "transcripts-dir": { type: "string" },
      quick: { type: "boolean" },
      sessions: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const flags = {
    config: values.config,
    runtimeDir: values["runtime-dir"],
    viewerHost: values["viewer-host"],
    viewerPort: values["viewer-port"],
  };
  if (values.help || sub === "help") {
    process.stderr.write(USAGE);
    return 0;
  }
  switch (sub) {
    case "serve":
      return (await import("./commands/serve.js")).runServe(flags, process.env);
    case "ls":
      return (await human()).runLs(flags, process.env);
    case "attach":
      return (await human()).runAttach(flags, process.env, positionals[0]);
    case "close":
      return (await human()).runClose(flags, process.env, positionals[0]);
    case "doctor":
      return (await import("./commands/doctor.js")).runDoctor(flags, process.env);
    case "lab":
      return (await import("./commands/lab.js")).runLab(flags, process.env, values.port);
    case "bridge": {
      // Inside a tmux pane: the ssh2 bridge. It owns the process until the connection ends.
      const { runBridge } = await import("./ssh/ssh2-bridge.js");
      const profile = JSON.parse(Buffer.from(positionals[0] ?? "", "base64").toString("utf8")) as Parameters<
        typeof runBridge
      >[0];
      return process.exit(await runBridge(profile));
    }
    case "demo":
      return (await import("./commands/demo.js")).runDemo(process.env);
    case "viewer":
      return (await import("./commands/viewer.js")).runViewer(
        { ...flags, viewerPort: values.port ?? flags.viewerPort },
        process.env,
        values["transcripts-dir"],
      );
    case "bench": {
      const { runBench } = await import("./commands/bench.js");
      const n = values.sessions ? Number(values.sessions) : undefined;
      return runBench({
        quick: Boolean(values.quick),
        sessions: n,
        runtimeDir: runtimeDirFrom(flags.runtimeDir, process.env, process.cwd()),
      });
    }
    default:
      process.stderr.write(`Unknown command '${sub}'.\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ssh-mcp: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
