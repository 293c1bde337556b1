import { SshMcpError } from "../errors.js";
import { Tmux, type TmuxError, type TmuxOptions } from "../tmux/client.js";
import { PANE_TAGS, type PaneTags } from "./tags.js";

/**
 * The tmux client as the server uses it: every pane's state comes with ssh-mcp's tags
 * (tags.ts), and a tmux failure reaches tools (and the viewer) as a coded TMUX_ERROR.
 */

export type SessionTmux = Tmux<PaneTags>;

/** A TmuxError as ssh-mcp reports it; `tmux` keeps tmux's own stderr and exit code. */
export class TmuxFailure extends SshMcpError {
  constructor(readonly tmux: TmuxError) {
    super("TMUX_ERROR", `${tmux.message}. Check that tmux is installed (ssh-mcp doctor).`);
  }
}

export function createTmux(
  socket: string,
  opts: Omit<TmuxOptions<PaneTags>, "paneFields" | "mapError"> = {},
): SessionTmux {
  return new Tmux(socket, { ...opts, paneFields: PANE_TAGS, mapError: (err) => new TmuxFailure(err) });
}
