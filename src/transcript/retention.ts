import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * Transcript retention, per instance directory: transcripts older than `days`, and beyond the
 * newest `maxFiles`, are deleted. 0 turns a limit off (the default: audit logs are kept until
 * the operator decides). Transcripts of live sessions are never touched.
 */
export interface Retention {
  days: number;
  maxFiles: number;
}

export function applyRetention(
  runtimeDir: string,
  r: Retention,
  live: Set<string>,
  now = Date.now(),
): string[] {
  if (!r.days && !r.maxFiles) return [];
  const deleted: string[] = [];
  const root = join(runtimeDir, "instances");
  if (!existsSync(root)) return deleted;
  for (const inst of readdirSync(root)) {
    const dir = join(root, inst, "transcripts");
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".jsonl"))
      .map((f) => ({ path: join(dir, f), mtime: statSync(join(dir, f)).mtimeMs }))
      .filter((f) => !live.has(f.path))
      .sort((a, b) => b.mtime - a.mtime);
    files.forEach((f, i) => {
      const tooOld = r.days > 0 && now - f.mtime > r.days * 86_400_000;
      const tooMany = r.maxFiles > 0 && i >= r.maxFiles;
      if (tooOld || tooMany) {
        rmSync(f.path, { force: true });
        deleted.push(f.path);
      }
    });
  }
  return deleted;
}
