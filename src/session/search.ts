import { shQuote } from "../tmux/command.js";
import type { SendTarget, SessionHost } from "./host.js";
import { getCommand, resultFor, runCommand } from "./operations.js";

/**
 * search_logs runs find + grep in the session's current shell (wherever it is: master host,
 * pod) using only options GNU, BSD and BusyBox tools share. grep runs once per file with -h
 * under a header line naming the file, so file names never have to be parsed out of grep's
 * `file:line:` / `file-line-` prefixes (ambiguous once context lines hold timestamps).
 */
export interface SearchOptions {
  pattern: string;
  path: string;
  include: string;
  context: number;
  ignoreCase: boolean;
  maxCount: number;
  timeoutMs: number;
  force?: boolean;
}

const HEADER = "@@ssh-mcp-file@@ ";

export function buildSearchCommand(o: SearchOptions): string {
  const grep = ["grep", "-n", "-s", "-E"];
  if (o.ignoreCase) grep.push("-i");
  if (o.context > 0) grep.push("-C", String(o.context));
  grep.push("-m", String(o.maxCount), "-e", shQuote(o.pattern), "--", '"$f"');
  const script = `for f; do printf '${HEADER}%s\\n' "$f"; ${grep.join(" ")}; done`;
  // A path starting with '-' would be read by find as an expression (`-delete`!).
  const path = o.path.startsWith("-") ? `./${o.path}` : o.path;
  return `find ${shQuote(path)} -type f -name ${shQuote(o.include)} -exec sh -c ${shQuote(script)} sh {} +`;
}

export interface Match {
  file: string;
  line: number;
  text: string;
}

/** Matches (not context lines) from the command's output, at most `max`. */
export function parseMatches(output: string, max: number): Match[] {
  const matches: Match[] = [];
  let file: string | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith(HEADER)) {
      file = line.slice(HEADER.length);
      continue;
    }
    if (file === undefined) continue;
    const m = /^(\d+):(.*)$/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    matches.push({ file, line: Number(m[1]), text: m[2] });
    if (matches.length >= max) break;
  }
  return matches;
}

/** The grep-style listing of the output: `file:line:text` and `file-line-text`, headers dropped. */
export function grepStyle(output: string): string {
  let file = "";
  const out: string[] = [];
  for (const line of output.split("\n")) {
    if (line.startsWith(HEADER)) {
      file = line.slice(HEADER.length);
      continue;
    }
    const m = /^(\d+)([:-])(.*)$/.exec(line);
    out.push(m ? `${file}${m[2]}${m[1]}${m[2]}${m[3]}` : line);
  }
  return out.join("\n");
}

/** search_logs, on a session granted "send" (as execute_command). */
export async function searchLogs(host: SessionHost, target: SendTarget, o: SearchOptions) {
  const command = buildSearchCommand(o);
  const { s, cmd } = await runCommand(host, target, {
    command,
    waitForPrompt: true,
    timeoutMs: o.timeoutMs,
    tool: "search_logs",
    force: o.force,
  });
  const result = resultFor(host, s, cmd);
  // Parse the whole output, not the capped copy in the result.
  const full = getCommand(s, result.command_id, undefined, 0).command.output;
  const matches = parseMatches(full, o.maxCount);
  const output = grepStyle(result.output);
  const failed = /^find: /m.test(full) && matches.length === 0;
  return {
    command,
    command_id: result.command_id,
    status: result.status,
    // grep's convention, computed from what was found: 0 matches found, 1 none, 2 error.
    exit_code: result.status !== "completed" ? null : matches.length ? 0 : failed ? 2 : 1,
    timed_out: result.timed_out,
    output,
    output_truncated: result.output_truncated,
    matches,
  };
}
