import * as pty from "node-pty";
import { withoutTmuxEnv } from "../tmux/client.js";

/**
 * Live mode: the viewer mirrors the tmux pane itself by running `tmux attach -r` (read-only) in
 * a pseudo-terminal of the window's size and streaming its bytes to the browser, so the page
 * shows exactly what a human attached with tmux sees: colors, cursor, full-screen programs.
 */
export interface LiveAttach {
  onData(cb: (data: string) => void): void;
  onExit(cb: () => void): void;
  close(): void;
}

export function attachReadOnly(
  socket: string,
  tmuxName: string,
  cols: number,
  rows: number,
  env: NodeJS.ProcessEnv,
): LiveAttach {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(withoutTmuxEnv(env))) if (v !== undefined) childEnv[k] = v;
  childEnv.TERM = "xterm-256color";
  const term = pty.spawn("tmux", ["-u", "-L", socket, "attach", "-r", "-t", `=${tmuxName}`], {
    name: "xterm-256color",
    cols,
    rows,
    env: childEnv,
  });
  let closed = false;
  return {
    onData: (cb) => void term.onData(cb),
    onExit: (cb) => void term.onExit(() => cb()),
    close: () => {
      if (closed) return;
      closed = true;
      term.kill();
    },
  };
}
