import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

/**
 * A real MCP client over stdio, for `ssh-mcp demo` (and anything else that drives the server
 * the way an LLM client does). Lives here because src/mcp/ is the only SDK user.
 */
export interface ToolClient {
  call(tool: string, args?: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean }>;
  close(): Promise<void>;
}

export async function connectStdio(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<ToolClient> {
  const transport = new StdioClientTransport({ command, args, env, stderr: "ignore" });
  const client = new Client({ name: "ssh-mcp-demo", version: "0.1.0" });
  await client.connect(transport);
  return {
    async call(tool, a = {}) {
      const res = await client.callTool({ name: tool, arguments: a }, undefined, { timeout: 600_000 });
      return res.structuredContent as Record<string, unknown> & { ok: boolean };
    },
    close: () => client.close(),
  };
}
