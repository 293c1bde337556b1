import { commandTools } from "./commands.js";
import { humanTools } from "./human.js";
import { secretTools } from "./secrets.js";
import { sessionTools } from "./sessions.js";
import { terminalTools } from "./terminal.js";
import type { ToolDef } from "./types.js";

export const allTools: ToolDef[] = [
  ...sessionTools,
  ...commandTools,
  ...terminalTools,
  ...humanTools,
  ...secretTools,
];
