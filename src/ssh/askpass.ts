#!/usr/bin/env node
/**
 * SSH_ASKPASS helper. ssh runs it with the prompt as argv[1]; it asks the MCP server over a
 * private unix socket (path and one-time token in its environment, never the secret) and prints
 * the answer. The secret exists only in the server's memory and this pipe: never on disk, in
 * argv, or in the tmux environment.
 */
import { connect } from "node:net";

const socketPath = process.env.SSH_MCP_ASKPASS_SOCKET;
const token = process.env.SSH_MCP_ASKPASS_TOKEN;
const prompt = process.argv[2] ?? "";
if (!socketPath || !token) process.exit(1);

const sock = connect(socketPath);
const chunks: Buffer[] = [];
sock.setTimeout(10_000, () => process.exit(1));
sock.on("connect", () => sock.end(JSON.stringify({ token, prompt }) + "\n"));
sock.on("data", (c: Buffer) => chunks.push(c));
sock.on("error", () => process.exit(1));
sock.on("close", () => {
  const reply = Buffer.concat(chunks).toString("utf8");
  if (!reply.startsWith("OK ")) process.exit(1);
  process.stdout.write(reply.slice(3) + "\n");
  process.exit(0);
});
