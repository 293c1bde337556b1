import { z } from "zod";
import { defineTool, sessionId } from "./types.js";

export const sessionTools = [
  defineTool({
    name: "open_session",
    title: "Open SSH session",
    description:
      "Open a persistent interactive SSH terminal for a configured profile. It lives in tmux: it survives MCP server restarts and a human can attach with the returned attach_command. Then use execute_command for shell commands, send_text for menus and prompts.",
    inputSchema: z.object({
      profile: z.string().min(1).max(128).describe("Profile name from the profiles file"),
      owner_label: z
        .string()
        .max(200)
        .optional()
        .describe("What this session is for, e.g. 'payment-log-check'"),
    }),
    annotations: { openWorldHint: true },
    handler: async (args, { manager }) => {
      const s = await manager.open(args.profile, args.owner_label ?? null);
      const info = manager.info(s);
      return { session: info, viewer_url: info.viewer_url, attach_command: info.attach_command };
    },
  }),
  defineTool({
    name: "list_sessions",
    title: "List sessions",
    description: "List the sessions of this server (open and closed) with status, owner and attach command.",
    inputSchema: z.object({}),
    annotations: { readOnlyHint: true },
    handler: async (_args, { manager, serverMeta }) => {
      await manager.checkHealth();
      return {
        server: serverMeta(),
        sessions: [...manager.sessions.values()].map((s) => manager.info(s)),
        viewer_base_url: manager.deps.viewerBaseUrl(),
      };
    },
  }),
  defineTool({
    name: "close_session",
    title: "Close session",
    description: "Close an SSH session: ends the ssh process and its tmux window. The transcript is kept.",
    inputSchema: z.object({ session_id: sessionId }),
    annotations: { destructiveHint: true, idempotentHint: true },
    handler: async (args, { manager }) => ({ session: manager.info(await manager.close(args.session_id)) }),
  }),
];
