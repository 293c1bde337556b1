import { spawn } from "node:child_process";
import { join } from "node:path";
import { loadConfig, type Flags } from "../config/load.js";
import { LAB_MAIN } from "../ssh/lab.js";
import { withoutTmuxEnv } from "../tmux/client.js";

/** `ssh-mcp lab [--port N]`: the lab SSH server in the foreground (its own entry point). */
export function runLab(flags: Flags, env: NodeJS.ProcessEnv, port?: string): Promise<number> {
  const config = loadConfig(flags, env);
  const lab = config.profiles.lab?.lab;
  const args = [
    LAB_MAIN,
    "--port",
    port ?? String(lab?.port ?? 2222),
    "--dir",
    lab?.dir ?? join(config.runtimeDir, "lab"),
  ];
  const childEnv = withoutTmuxEnv(env);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: "inherit", env: childEnv });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code) => resolve(code ?? 0));
  });
}
