import { z } from "zod";
import {
  checkKeyNames,
  getScreen,
  getTranscript,
  interrupt,
  sendKeys,
  sendText,
  waitForScreen,
} from "../session/operations.js";
import { withProgress } from "../session/progress.js";
import { defineSessionTool, force, sessionId, timeoutSeconds } from "./types.js";

export const terminalTools = [
  defineSessionTool({
    name: "send_text",
    title: "Send text",
    description:
      "Type text into the terminal (Enter appended unless enter=false), e.g. a bastion menu choice, an answer to a prompt, or a command that enters an interactive program. With wait_for, waits until that text (or regex) appears in the new output. Use sensitive=true for passwords: they are never written to the transcript.",
    inputSchema: z.object({
      session_id: sessionId,
      text: z.string().max(100_000).describe("Text to type"),
      enter: z.boolean().default(true).describe("Press Enter after the text (profile's enter_sequence)"),
      wait_for: z
        .string()
        .max(1000)
        .default("")
        .describe("Text to wait for in the output; empty waits for output to go quiet"),
      regex: z.boolean().default(false).describe("Treat wait_for as a regular expression"),
      timeout: timeoutSeconds(30),
      sensitive: z.boolean().default(false).describe("Secret input: recorded as [REDACTED]"),
      force,
    }),
    annotations: { openWorldHint: true },
    access: "send",
    handler: async (a, target, { manager, call }) =>
      // A secret's echo is never followed: its progress says only what it waits for.
      withProgress(
        call.progress,
        manager,
        a.sensitive ? undefined : target.session,
        a.wait_for ? `waiting for ${JSON.stringify(a.wait_for)}` : "waiting for output to go quiet",
        () =>
          sendText(manager, target, {
            asker: call,
            text: a.text,
            enter: a.enter,
            waitFor: a.wait_for,
            regex: a.regex,
            timeoutMs: a.timeout * 1000,
            sensitive: a.sensitive,
            force: a.force,
          }),
      ),
  }),
  defineSessionTool({
    name: "send_keys",
    title: "Send keys",
    description:
      "Press named keys (tmux names): C-c, C-d, C-z, Up, Down, Left, Right, Tab, Enter, Escape, PageUp, PageDown, F1..F12, or single characters like q or y. For pagers, editors and full-screen programs; read the result with get_screen.",
    inputSchema: z.object({
      session_id: sessionId,
      keys: z.array(z.string().min(1).max(32)).min(1).max(200).describe("Key names, pressed in order"),
      force,
    }),
    annotations: { openWorldHint: true },
    access: "drive",
    check: (a) => checkKeyNames(a.keys),
    handler: async (a, s, { manager, call }) => ({ sent: await sendKeys(manager, s, a.keys, call) }),
  }),
  defineSessionTool({
    name: "interrupt",
    title: "Interrupt (Ctrl+C)",
    description:
      "Send Ctrl+C. A tracked running command is marked cancelled, so the next execute_command works.",
    inputSchema: z.object({ session_id: sessionId, force }),
    annotations: { openWorldHint: true },
    access: "drive",
    handler: async (_a, s, { manager }) => {
      await interrupt(manager, s, "interrupt");
      return { sent: ["C-c"] };
    },
  }),
  defineSessionTool({
    name: "get_screen",
    title: "Get screen",
    description:
      "The terminal as rendered now (what a human attached with tmux sees): last `lines` lines, cursor, and whether a full-screen program (pager, editor) is on the alternate screen. With wait_for, waits up to timeout seconds until that text (or regex) is on those lines, and adds matched (the match or null) and timed_out.",
    inputSchema: z.object({
      session_id: sessionId,
      lines: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(100)
        .describe(
          "How many lines, counted from the bottom: the screen plus up to 2000 lines of tmux history (older output: get_transcript)",
        ),
      ansi: z.boolean().default(false).describe("Keep colors and attributes as ANSI escape sequences"),
      wait_for: z
        .string()
        .max(1000)
        .default("")
        .describe("Wait until this text (or regex) is on the screen's lines; empty returns at once"),
      regex: z.boolean().default(false).describe("Treat wait_for as a regular expression (RE2)"),
      timeout: timeoutSeconds(30),
    }),
    annotations: { readOnlyHint: true },
    access: "observe",
    links: (a) => a.session_id,
    handler: async (a, s, { manager, call }) =>
      a.wait_for
        ? withProgress(
            call.progress,
            manager,
            manager.known(s.id),
            `waiting for ${JSON.stringify(a.wait_for)} on screen`,
            () =>
              waitForScreen(manager, s, a.lines, a.ansi, {
                waitFor: a.wait_for,
                regex: a.regex,
                timeoutMs: a.timeout * 1000,
                signal: call.signal,
              }),
          )
        : getScreen(manager, s, a.lines, a.ansi),
  }),
  defineSessionTool({
    name: "get_transcript",
    title: "Get transcript",
    description:
      "The last events of the session's JSONL audit transcript (sends, received output, commands, health).",
    inputSchema: z.object({
      session_id: sessionId,
      tail: z
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(200)
        .describe("How many events, counted from the end"),
    }),
    annotations: { readOnlyHint: true },
    access: "observe",
    links: (a) => a.session_id,
    handler: async (a, s) => getTranscript(s, a.tail),
  }),
];
