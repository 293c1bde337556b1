import { z } from "zod";
import type { AccessLevel, Granted } from "../session/host.js";
import type { SessionManager } from "../session/manager.js";

/** A tool is data: name, description, zod input schema, annotations and a handler. */
export interface ToolContext {
  manager: SessionManager;
  serverMeta: () => Record<string, unknown>;
}

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolDef<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: S;
  annotations: ToolAnnotations;
  handler: (args: z.infer<S>, ctx: ToolContext) => Promise<Record<string, unknown>>;
}

export function defineTool<S extends z.ZodObject>(def: ToolDef<S>): ToolDef {
  return def as unknown as ToolDef;
}

/**
 * A tool about one session (its `session_id` argument). The session is looked up and authorised
 * once, with the tool's access level (host.ts's AccessLevel), before the handler runs; the
 * handler gets what that level grants. Every such tool refuses the same way (UNKNOWN_SESSION,
 * SESSION_OWNED_ELSEWHERE, INPUT_LOCKED, ...), and `force` (where the tool takes it) is passed
 * to the lookup. MCP calls always act as the agent.
 */
export interface SessionToolDef<S extends z.ZodObject, L extends AccessLevel> extends Omit<
  ToolDef<S>,
  "handler"
> {
  access: L;
  /** Checks of the arguments alone, made before the lookup (their refusals come first). */
  check?: (args: z.infer<S>) => void;
  handler: (args: z.infer<S>, session: Granted[L], ctx: ToolContext) => Promise<Record<string, unknown>>;
}

export function defineSessionTool<S extends z.ZodObject, L extends AccessLevel>(
  def: SessionToolDef<S, L> & { inputSchema: z.ZodType<{ session_id: string; force?: boolean }> },
): ToolDef {
  const { access, check, handler, ...tool } = def;
  return defineTool({
    ...tool,
    handler: async (args, ctx) => {
      check?.(args);
      const { session_id, force } = args as { session_id: string; force?: boolean };
      const session = await ctx.manager.access(session_id, access, { force, actor: "agent" });
      return handler(args, session, ctx);
    },
  });
}

export const sessionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, "must be a session_id returned by open_session or list_sessions")
  .describe("Session id from open_session or list_sessions");

export const timeoutSeconds = (def: number) =>
  z.number().gt(0).max(86_400).default(def).describe("Seconds to wait before returning (the work goes on)");

export const force = z
  .boolean()
  .default(false)
  .describe(
    "Drive a session of another live ssh-mcp server, or override an input lock (recorded in the transcript)",
  );
