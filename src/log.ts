import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The one logger: lines go to the log file (0600) and to stderr. stdout belongs to JSON-RPC,
 * so nothing here ever writes there. Secrets must never be passed in; callers log names only.
 */
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(opts: { path?: string; stderr?: boolean; level?: Level }): Logger {
  const min = ORDER[opts.level ?? "info"];
  if (opts.path) mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
  const write = (level: Level, msg: string, data?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const line = `${new Date().toISOString()} ${level.toUpperCase()} ${msg}${data ? " " + JSON.stringify(data) : ""}\n`;
    if (opts.path) {
      try {
        appendFileSync(opts.path, line, { mode: 0o600 });
      } catch {
        // A full disk must not take the server down; stderr still gets the line.
      }
    }
    if (opts.stderr !== false) process.stderr.write(line);
  };
  return {
    debug: (m, d) => write("debug", m, d),
    info: (m, d) => write("info", m, d),
    warn: (m, d) => write("warn", m, d),
    error: (m, d) => write("error", m, d),
  };
}
