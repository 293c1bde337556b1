import { z } from "zod";
import { errorMessage, SshMcpError } from "../errors.js";
import type { AccessLevel, Granted } from "../session/host.js";
import { allSecretValues, maskDeep, maskText, type SecretValue } from "../session/secrets.js";
import type { SessionManager } from "../session/manager.js";

/** A tool is data: name, description, zod input schema, annotations and a handler. */
export interface ToolContext {
  manager: SessionManager;
  serverMeta: () => Record<string, unknown>;
  /** This call's link to the client (progress, elicitation, cancellation); mcp/ fills it per call. */
  call: ToolCall;
}

/**
 * What one tools/call may ask of the client that made it, in our own terms (the SDK stays in
 * src/mcp/). Nothing here is kept between calls: no hidden per-connection state.
 */
export interface ToolCall {
  /**
   * notifications/progress for this call: undefined when the call carried no progressToken.
   * `progress` must grow from one notification to the next (elapsed seconds do).
   */
  progress: ((progress: number, message: string) => void) | undefined;
  /** The elicitation modes the client declared (form: a small form; url: open a page). */
  elicitation: { form: boolean; url: boolean };
  /** Asks the client's human; rejects when the client cannot or the call was cancelled. */
  elicit: (e: Elicitation, timeoutMs: number) => Promise<ElicitAnswer>;
  /** Tells the client a URL elicitation is complete (the page was used). */
  elicitationDone: (elicitationId: string) => Promise<void>;
  /** Aborted when the client cancels the call. */
  signal: AbortSignal;
}

/** A form field: a yes/no or a short text. */
export type ElicitField =
  | { type: "boolean"; title?: string; description?: string; default?: boolean }
  | { type: "string"; title?: string; description?: string; maxLength?: number };

export type Elicitation =
  | { mode: "form"; message: string; fields: Record<string, ElicitField>; required?: string[] }
  | { mode: "url"; message: string; url: string; elicitationId: string };

export interface ElicitAnswer {
  action: "accept" | "decline" | "cancel";
  content?: Record<string, unknown>;
}

/** A call with no client behind it (tests of handlers, internal callers): no progress, no human. */
export const NO_CALL: ToolCall = {
  progress: undefined,
  elicitation: { form: false, url: false },
  elicit: () => Promise.reject(new Error("no MCP client to ask")),
  elicitationDone: () => Promise.resolve(),
  signal: new AbortController().signal,
};

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
  /**
   * The session a successful result is about: the result then links that session's transcript
   * and screen resources (resource_link items, docs/tools.md "Resources").
   */
  links?: (args: z.infer<S>, result: Record<string, unknown>) => string | undefined;
}

export function defineTool<S extends z.ZodObject>(def: ToolDef<S>): ToolDef {
  return { ...def, handler: masked(def.handler) } as unknown as ToolDef;
}

/**
 * Every tool's result, and every refusal, with the value of each declared profile secret masked
 * as `[SECRET:name]` (docs/security.md): one place for all tools, whatever printed the value.
 * Costs nothing when no profile declares secrets.
 */
function masked<S extends z.ZodObject>(handler: ToolDef<S>["handler"]): ToolDef<S>["handler"] {
  return async (args, ctx) => {
    const values = allSecretValues(ctx.manager.config, ctx.manager.env);
    if (!values.length) return handler(args, ctx);
    try {
      return maskDeep(await handler(args, { ...ctx, call: maskedCall(ctx.call, values) }), values);
    } catch (err) {
      throw maskedError(err, values);
    }
  };
}

/** What a call sends the client while it runs (progress, an elicitation's message), masked too. */
function maskedCall(call: ToolCall, values: SecretValue[]): ToolCall {
  const { progress } = call;
  return {
    ...call,
    progress: progress && ((p, message) => progress(p, maskText(message, values))),
    elicit: (e, timeoutMs) => call.elicit({ ...e, message: maskText(e.message, values) }, timeoutMs),
  };
}

function maskedError(err: unknown, values: SecretValue[]): Error {
  if (err instanceof SshMcpError) {
    return new SshMcpError(err.code, maskText(err.message, values), maskDeep(err.data, values));
  }
  const out = new Error(maskText(errorMessage(err), values));
  // The server logs an unexpected error's stack: masked too.
  if (err instanceof Error && err.stack) out.stack = maskText(err.stack, values);
  return out;
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
