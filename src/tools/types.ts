import { z } from "zod";
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
