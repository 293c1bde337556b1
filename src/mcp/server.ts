import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { Protocol } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  ListToolsRequestSchema,
  type CallToolResult,
  type ElicitRequestFormParams,
  type ElicitRequestURLParams,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { errorMessage, SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Elicitation, ToolCall, ToolContext, ToolDef } from "../tools/types.js";
import { registerResources, sessionLinks } from "./resources.js";

/**
 * The only module that imports the MCP SDK. Tools are listed and called through our own
 * handlers rather than McpServer.registerTool, because the SDK answers a schema failure with a
 * plain-text protocol error; here every failure, invalid arguments included, becomes the same
 * `{ok:false, error, code}` result the model can act on, and the server keeps serving.
 */
export function toolResult(payload: Record<string, unknown>, isError = false): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(payload) }],
    structuredContent: payload,
    ...(isError ? { isError: true } : {}),
  };
}

/**
 * A result with the resource_link items of the session it is about (the tool's `links`), after
 * the text item: the text stays first and equal to the structured content.
 */
function withLinks(result: CallToolResult, sessionId: string | undefined): CallToolResult {
  if (sessionId === undefined) return result;
  return { ...result, content: [...result.content, ...sessionLinks(sessionId)] };
}

export function errorResult(err: unknown): CallToolResult {
  if (err instanceof SshMcpError) {
    return toolResult(
      { ok: false, error: err.message, code: err.code, ...(err.data ? { data: err.data } : {}) },
      true,
    );
  }
  return toolResult(
    {
      ok: false,
      error: `Internal error: ${errorMessage(err)}. The server is still running; see its log for details.`,
      code: "INTERNAL_ERROR",
    },
    true,
  );
}

export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? `'${i.path.join(".")}'` : "arguments"}: ${i.message}`)
    .join("; ");
}

/**
 * tools/call as the SDK defines it, but with `arguments` of any shape: the SDK's own schema
 * answers `arguments: null` (or a string) with a protocol error; here it reaches our handler and
 * gets the same coded INVALID_ARGUMENT result as any other bad argument.
 */
const LooseCallToolRequest = z.object({
  method: z.literal("tools/call"),
  params: z
    .object({ name: z.string(), arguments: z.unknown().optional(), _meta: z.unknown().optional() })
    .passthrough(),
});

export interface McpServerOptions {
  name: string;
  version: string;
  tools: ToolDef[];
  /** What every call shares; each call adds its own `call` (progress, elicitation, cancel). */
  context: Omit<ToolContext, "call">;
  logger: Logger;
}

const INSTRUCTIONS =
  "Persistent SSH terminals in tmux. open_session(profile) -> execute_command for shell commands (exact output + exit code), send_text/send_keys for menus, prompts and full-screen programs, get_screen to look. Sessions survive server restarts; a human may be attached.";

export function createMcpServer(opts: McpServerOptions): McpServer {
  const mcp = new McpServer(
    { name: opts.name, version: opts.version },
    {
      capabilities: { tools: {}, resources: { subscribe: true, listChanged: true } },
      instructions: INSTRUCTIONS,
    },
  );
  registerToolList(mcp, opts.tools);
  registerToolCall(mcp, opts);
  registerResources(mcp, opts.context.manager, opts.logger);
  return mcp;
}

function registerToolList(mcp: McpServer, tools: ToolDef[]): void {
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: z.toJSONSchema(t.inputSchema, { io: "input" }) as { type: "object" },
      annotations: { title: t.title, ...t.annotations },
    })),
  }));
}

function registerToolCall(mcp: McpServer, opts: McpServerOptions): void {
  const byName = new Map(opts.tools.map((t) => [t.name, t]));
  // Protocol's own setRequestHandler: Server's override re-validates tools/call with the SDK's
  // strict schema before any handler runs, which is what turns `arguments: null` into a
  // protocol error.
  Protocol.prototype.setRequestHandler.call(
    mcp.server,
    LooseCallToolRequest,
    async (req, extra): Promise<CallToolResult> => {
      const tool = byName.get(req.params.name);
      if (!tool) {
        return invalidArgument(
          `Unknown tool '${req.params.name}'. Available: ${[...byName.keys()].join(", ")}.`,
        );
      }
      return callTool(
        tool,
        req.params.arguments,
        { ...opts.context, call: toolCall(mcp, extra) },
        opts.logger,
      );
    },
  );
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The call's link to its client, from the SDK's request context: progress, elicitation, cancel. */
function toolCall(mcp: McpServer, extra: Extra): ToolCall {
  const token = extra._meta?.progressToken;
  const caps = mcp.server.getClientCapabilities()?.elicitation;
  return {
    progress:
      token === undefined
        ? undefined
        : (progress, message) => {
            // A lost notification is only a missed update: never fail the call for it.
            extra
              .sendNotification({
                method: "notifications/progress",
                params: { progressToken: token, progress, message },
              })
              .catch(() => undefined);
          },
    // The SDK reads a bare `elicitation: {}` as form support (the protocol's older shape).
    elicitation: { form: Boolean(caps?.form), url: Boolean(caps?.url) },
    elicit: (e, timeoutMs) =>
      mcp.server.elicitInput(elicitParams(e), {
        relatedRequestId: extra.requestId,
        signal: extra.signal,
        timeout: timeoutMs,
      }),
    elicitationDone: (id) =>
      mcp.server.createElicitationCompletionNotifier(id, { relatedRequestId: extra.requestId })(),
    signal: extra.signal,
  };
}

function elicitParams(e: Elicitation): ElicitRequestFormParams | ElicitRequestURLParams {
  if (e.mode === "url")
    return { mode: "url", message: e.message, url: e.url, elicitationId: e.elicitationId };
  return {
    mode: "form",
    message: e.message,
    requestedSchema: {
      type: "object",
      properties: e.fields,
      ...(e.required ? { required: e.required } : {}),
    },
  };
}

function invalidArgument(message: string): CallToolResult {
  return errorResult(new SshMcpError("INVALID_ARGUMENT", message));
}

/** Checks a call's arguments against the tool's schema, then runs it. */
async function callTool(
  tool: ToolDef,
  args: unknown,
  ctx: ToolContext,
  logger: Logger,
): Promise<CallToolResult> {
  // `arguments: null` (or absent) is an empty argument list: its fields are checked as such.
  const parsed = tool.inputSchema.safeParse(args ?? {});
  if (args !== undefined && args !== null && typeof args !== "object") {
    return invalidArgument(`Invalid arguments for ${tool.name}: arguments must be an object.`);
  }
  if (!parsed.success) {
    return invalidArgument(`Invalid arguments for ${tool.name}: ${describeZodError(parsed.error)}.`);
  }
  return runLogged(tool, parsed.data, ctx, logger);
}

/** Runs a tool and logs how it went: an SshMcpError is an expected failure, anything else gets its stack. */
async function runLogged(
  tool: ToolDef,
  args: z.infer<ToolDef["inputSchema"]>,
  ctx: ToolContext,
  logger: Logger,
): Promise<CallToolResult> {
  const started = Date.now();
  try {
    const result = await tool.handler(args, ctx);
    logger.debug("tool ok", { tool: tool.name, ms: Date.now() - started });
    return withLinks(toolResult({ ok: true, ...result }), tool.links?.(args, result));
  } catch (err) {
    logger[err instanceof SshMcpError ? "info" : "error"]("tool failed", {
      tool: tool.name,
      error: errorMessage(err),
      ...(err instanceof SshMcpError
        ? { code: err.code }
        : { stack: err instanceof Error ? err.stack : undefined }),
    });
    return errorResult(err);
  }
}

/**
 * Serves MCP over stdio. When the transport closes on its own (the SDK closes it on a message
 * over its 10 MiB line limit, and then stops reading stdin, so no end of input ever comes),
 * `onClosed` runs: the server exits cleanly and its sessions wait in tmux for the next server.
 */
export async function serveStdio(mcp: McpServer, onClosed: (why: string) => void): Promise<void> {
  const transport = new StdioServerTransport();
  let lastError = "";
  await mcp.connect(transport);
  // Set after connect: the SDK's Protocol installs its own handlers there and calls ours.
  const closed = mcp.server.onclose;
  mcp.server.onclose = () => {
    closed?.();
    onClosed(lastError || "the MCP transport closed");
  };
  const errored = mcp.server.onerror;
  mcp.server.onerror = (err: Error) => {
    lastError = err.message;
    errored?.(err);
  };
}
