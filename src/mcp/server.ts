import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { SshMcpError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ToolContext, ToolDef } from "../tools/types.js";

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
      error: `Internal error: ${err instanceof Error ? err.message : String(err)}. The server is still running; see its log for details.`,
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

export function createMcpServer(opts: {
  name: string;
  version: string;
  tools: ToolDef[];
  context: ToolContext;
  logger: Logger;
}): McpServer {
  const mcp = new McpServer(
    { name: opts.name, version: opts.version },
    {
      capabilities: { tools: {} },
      instructions:
        "Persistent SSH terminals in tmux. open_session(profile) -> execute_command for shell commands (exact output + exit code), send_text/send_keys for menus, prompts and full-screen programs, get_screen to look. Sessions survive server restarts; a human may be attached.",
    },
  );
  const byName = new Map(opts.tools.map((t) => [t.name, t]));
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: opts.tools.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: z.toJSONSchema(t.inputSchema, { io: "input" }) as { type: "object" },
      annotations: { title: t.title, ...t.annotations },
    })),
  }));
  mcp.server.setRequestHandler(CallToolRequestSchema, async (req): Promise<CallToolResult> => {
    const tool = byName.get(req.params.name);
    if (!tool) {
      return errorResult(
        new SshMcpError(
          "INVALID_ARGUMENT",
          `Unknown tool '${req.params.name}'. Available: ${[...byName.keys()].join(", ")}.`,
        ),
      );
    }
    const parsed = tool.inputSchema.safeParse(req.params.arguments ?? {});
    if (!parsed.success) {
      return errorResult(
        new SshMcpError(
          "INVALID_ARGUMENT",
          `Invalid arguments for ${tool.name}: ${describeZodError(parsed.error)}.`,
        ),
      );
    }
    const started = Date.now();
    try {
      const result = await tool.handler(parsed.data, opts.context);
      opts.logger.debug("tool ok", { tool: tool.name, ms: Date.now() - started });
      return toolResult({ ok: true, ...result });
    } catch (err) {
      opts.logger[err instanceof SshMcpError ? "info" : "error"]("tool failed", {
        tool: tool.name,
        error: err instanceof Error ? err.message : String(err),
        ...(err instanceof SshMcpError
          ? { code: err.code }
          : { stack: err instanceof Error ? err.stack : undefined }),
      });
      return errorResult(err);
    }
  });
  return mcp;
}

export async function serveStdio(mcp: McpServer): Promise<void> {
  const transport = new StdioServerTransport();
  await mcp.connect(transport);
}
