import type { Profile } from "../config/schema.js";
import { shQuote, type TmuxCommand } from "../tmux/command.js";

/**
 * The process a session's pane runs, from start to exit: the bridge's command line under its
 * exit-reporting wrapper, the one tmux invocation that creates, tags and taps the pane, what
 * the pane says when the bridge exits (bridgeExit), and ssh's own prompts on its screen. Pure
 * functions, unit-tested. (Not the bridges themselves: those are src/ssh/.)
 */

/**
 * The pane runs the bridge under a tiny sh that prints its exit status as the pane's last line:
 * tmux's own #{pane_dead_status} is sometimes never filled in (seen with tmux 3.3a), and the
 * line also tells a human looking at the dead pane what happened.
 */
export const BRIDGE_WRAPPER = `"$@"; rc=$?; printf '\\r\\n[ssh-mcp] bridge exited with status %s\\r\\n' "$rc"; exit "$rc"`;

const EXIT_LINE = /\[ssh-mcp\] bridge exited with status (\d+)\n?/g;

/** The bridge's exit status from its last words (else tmux's), and the text without that line. */
export function bridgeExit(text: string, tmuxStatus: number | null): { status: number | null; text: string } {
  const all = [...text.matchAll(EXIT_LINE)];
  const last = all[all.length - 1];
  return {
    status: last?.[1] !== undefined ? Number(last[1]) : tmuxStatus,
    text: text.replace(EXIT_LINE, ""),
  };
}

export function hasExitLine(text: string): boolean {
  return /\[ssh-mcp\] bridge exited with status \d+/.test(text);
}

/** tmux expands #{...} and #(...) in a pipe-pane command: double every '#'. */
export function tmuxFormatEscape(text: string): string {
  return text.replace(/#/g, "##");
}

export interface PaneSpec {
  id: string;
  profile: Profile;
  bridgeArgv: string[];
  /** Extra environment for the pane (askpass wiring only; never a secret). */
  env: Record<string, string>;
  /** Variables to remove from the pane's environment (e.g. a locale we added for tmux). */
  unsetEnv: string[];
  tapArgv: string[];
  options: [string, string][];
}

/**
 * Scrollback tmux keeps per pane: tmux's default. The transcript keeps everything; a longer
 * history makes the tmux server, which every session shares, move its array of lines in memory
 * again and again on long output (docs/performance.md).
 */
const HISTORY_LINES = 2000;

/** The pipe-pane command that runs the recorder (`exec`: its pid is the recorder's). */
export function tapCommandLine(tapArgv: string[]): string {
  return tmuxFormatEscape(`exec ${tapArgv.map(shQuote).join(" ")}`);
}

/** The tmux commands (one invocation) that create, tag and tap a session's pane. */
export function paneCommands(spec: PaneSpec): TmuxCommand[] {
  const target = `=${spec.id}:`;
  const tapCmd = tapCommandLine(spec.tapArgv);
  return [
    // The server stays up with no sessions: otherwise closing the last session makes it exit,
    // and the next open can race with that exit.
    ["set-option", "-s", "exit-empty", "off"],
    ["set-option", "-g", "history-limit", String(HISTORY_LINES)],
    ["set-option", "-gw", "remain-on-exit", "on"],
    [
      "new-session",
      "-d",
      "-s",
      spec.id,
      "-x",
      String(spec.profile.width),
      "-y",
      String(spec.profile.height),
      ...Object.entries(spec.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      "-P",
      "-F",
      "#{pane_id}",
      "--",
      "env",
      ...spec.unsetEnv.flatMap((name) => ["-u", name]),
      `TERM=${spec.profile.term}`,
      "sh",
      "-c",
      BRIDGE_WRAPPER,
      "ssh-mcp-bridge",
      ...spec.bridgeArgv,
    ],
    ["set-option", "-w", "-t", target, "window-size", "manual"],
    ...spec.options.map(([k, v]): TmuxCommand => ["set-option", "-w", "-t", target, k, v]),
    ["pipe-pane", "-O", "-t", target, tapCmd],
  ];
}

/** ssh's own interactive prompts: if the screen settles on one, the login did not succeed. */
export function sshPromptOnScreen(lastLine: string): "host_key" | "secret" | undefined {
  if (/Are you sure you want to continue connecting|\(yes\/no(\/\[fingerprint\])?\)\?\s*$/i.test(lastLine)) {
    return "host_key";
  }
  if (
    /^Enter passphrase for key .*:\s*$|^[^\s@]+@[^\s@]+'s password:\s*$|^\(?[^\s@]+@[^\s@]+\)? ?Password:\s*$/i.test(
      lastLine,
    )
  ) {
    return "secret";
  }
  return undefined;
}
