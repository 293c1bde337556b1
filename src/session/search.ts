import { shQuote } from "../tmux/client.js";
import type { SessionManager } from "./manager.js";
import { executeCommand } from "./operations.js";

/**
 * search_logs runs find + grep in the session's current shell (wherever it is: master host,
 * pod) using only options that GNU, BSD and BusyBox tools share, and parses `file:line:text`.
 */
export interface SearchOptions {
  pattern: string;
  path: string;
  include: string;
  context: number;
  ignoreCase: boolean;
  maxCount: number;
  timeoutMs: number;
}

export function buildSearchCommand(o: SearchOptions): string {
  const grep = ["grep", "-n", "-H", "-s", "-E"];
  if (o.ignoreCase) grep.push("-i");
  if (o.context > 0) grep.push("-C", String(o.context));
  grep.push("-m", String(o.maxCount), "-e", shQuote(o.pattern));
  return `find ${shQuote(o.path)} -type f -name ${shQuote(o.include)} -print0 2>/dev/null | xargs -0 ${grep.join(" ")} --`;
}

export interface Match {
  file: string;
  line: number;
  text: string;
}

export function parseMatches(output: string, max: number): Match[] {
  const matches: Match[] = [];
  for (const line of output.split("\n")) {
    const m = /^(.*?):(\d+):(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    matches.push({ file: m[1], line: Number(m[2]), text: m[3] });
    if (matches.length >= max) break;
  }
  return matches;
}

export async function searchLogs(mgr: SessionManager, sessionId: string, o: SearchOptions) {
  const command = buildSearchCommand(o);
  const result = await executeCommand(mgr, sessionId, {
    command,
    waitForPrompt: true,
    timeoutMs: o.timeoutMs,
    tool: "search_logs",
  });
  return {
    command,
    command_id: result.command_id,
    status: result.status,
    exit_code: result.exit_code,
    timed_out: result.timed_out,
    output: result.output,
    output_truncated: result.output_truncated,
    matches: parseMatches(result.output, o.maxCount),
  };
}
