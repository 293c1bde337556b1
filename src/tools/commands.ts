import { z } from "zod";
import {
  cancelCommand,
  executeCommand,
  getCommand,
  listCommands,
  waitForCommand,
} from "../session/operations.js";
import { withProgress } from "../session/progress.js";
import { searchLogs } from "../session/search.js";
import { defineSessionTool, force, sessionId, timeoutSeconds } from "./types.js";

const commandId = z.string().min(1).max(64).describe("command_id from execute_command or list_commands");

export const commandTools = [
  defineSessionTool({
    name: "execute_command",
    title: "Execute command",
    description:
      "Run a command in the session's current shell (whatever host or pod it is in now: bash, zsh, dash, ash, mksh, fish or tcsh, detected) and return only its own output and exit code. Typed only at a shell prompt: a pager, editor, password or yes/no prompt on screen gives SCREEN_BUSY and nothing is typed. A line the shell did not run gives NOT_STARTED. If the command waits for input it returns at once with status 'running', state 'awaiting_input' and input_kind (password, confirm, pager, editor, repl, other): answer with send_text/send_keys. If it outlives timeout it returns status 'running' and keeps being tracked: poll get_command. Entering a nested shell (ssh, su, kubectl exec -it) completes as 'prompt' and reports the new shell. Where no shell answers (a menu, a REPL) the line is typed as-is and completes when output goes quiet.",
    inputSchema: z.object({
      session_id: sessionId,
      command: z.string().min(1).max(100_000).describe("Shell command line (may span several lines)"),
      wait_for_prompt: z
        .boolean()
        .default(true)
        .describe(
          "true: run in the shell with exact output and exit code. false: send the line as is and return when output goes quiet",
        ),
      timeout: timeoutSeconds(30),
      force,
    }),
    annotations: { openWorldHint: true },
    access: "send",
    links: (a) => a.session_id,
    handler: async (a, target, { manager, call }) => ({
      ...(await withProgress(call.progress, manager, target.session, "running", () =>
        executeCommand(manager, target, {
          asker: call,
          command: a.command,
          waitForPrompt: a.wait_for_prompt,
          timeoutMs: a.timeout * 1000,
          force: a.force,
        }),
      )),
    }),
  }),
  defineSessionTool({
    name: "get_command",
    title: "Get command",
    description:
      "A tracked command's status, exit code and output (also after it outlived execute_command's timeout). Large output comes in pages: pass next_offset back as output_offset. output_limit N returns only the last N characters. wait N waits up to N seconds on the server for a running command to complete or ask for input (state 'awaiting_input'); with output_offset set to the last output_total_chars you get only the new output.",
    inputSchema: z.object({
      session_id: sessionId,
      command_id: commandId,
      output_limit: z
        .number()
        .int()
        .min(0)
        .max(100_000_000)
        .optional()
        .describe("Return only the last N characters"),
      output_offset: z.number().int().min(0).default(0).describe("Character offset of the page to return"),
      wait: z
        .number()
        .min(0)
        .max(600)
        .default(0)
        .describe(
          "Seconds to wait for a running command to complete or ask for input before returning (0: return at once)",
        ),
    }),
    annotations: { readOnlyHint: true },
    access: "read",
    handler: async (a, s, { manager, call }) => {
      if (a.wait > 0)
        await withProgress(call.progress, manager, s, `waiting for ${a.command_id}`, () =>
          waitForCommand(s, a.command_id, a.wait * 1000, call.signal),
        );
      return getCommand(s, a.command_id, a.output_limit, a.output_offset);
    },
  }),
  defineSessionTool({
    name: "list_commands",
    title: "List commands",
    description: "The commands run in a session, newest last, without their output.",
    inputSchema: z.object({ session_id: sessionId }),
    annotations: { readOnlyHint: true },
    access: "read",
    handler: async (_a, s) => ({ commands: listCommands(s) }),
  }),
  defineSessionTool({
    name: "cancel_command",
    title: "Cancel command",
    description:
      "Stop a running tracked command (Ctrl+C) and stop waiting for it; the session stays usable. A command of another server's session is that server's to cancel (use interrupt with force: true to send Ctrl+C there).",
    inputSchema: z.object({ session_id: sessionId, command_id: commandId, force }),
    annotations: { openWorldHint: true },
    // Another live server's session: its commands are tracked there (SESSION_OWNED_ELSEWHERE);
    // force applies to the Ctrl+C (cancelCommand's "drive").
    access: "read",
    handler: async (a, s, { manager }) => ({
      command: await cancelCommand(manager, s, a.command_id, { force: a.force }),
    }),
  }),
  defineSessionTool({
    name: "search_logs",
    title: "Search logs",
    description:
      "Search log files under path in the session's current shell (find + grep -E, works on BusyBox too) and return structured matches {file, line, text}.",
    inputSchema: z.object({
      session_id: sessionId,
      pattern: z.string().min(1).max(1000).describe("Extended regular expression (grep -E)"),
      path: z.string().min(1).max(1000).default(".").describe("Directory to search"),
      include: z.string().min(1).max(200).default("*.log").describe("File name glob"),
      context: z.number().int().min(0).max(20).default(0).describe("Lines of context around each match"),
      ignore_case: z.boolean().default(true).describe("Case-insensitive match (grep -i)"),
      max_count: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(200)
        .describe("Most matches per file and in the result"),
      timeout: timeoutSeconds(30),
      force,
    }),
    annotations: { readOnlyHint: true, openWorldHint: true },
    access: "send",
    handler: async (a, target, { manager, call }) =>
      withProgress(call.progress, manager, target.session, "searching", () =>
        searchLogs(manager, target, {
          pattern: a.pattern,
          path: a.path,
          include: a.include,
          context: a.context,
          ignoreCase: a.ignore_case,
          maxCount: a.max_count,
          timeoutMs: a.timeout * 1000,
          force: a.force,
        }),
      ),
  }),
];
