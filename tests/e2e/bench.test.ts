import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "../support/harness.js";

/** A smoke run of the benchmark: it completes and writes valid JSON. Its figures are not asserted. */

const dir = mkdtempSync(join(tmpdir(), "ssh-mcp-bench-test-"));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe("ssh-mcp bench --quick", () => {
  it("completes and writes runtime/bench/latest.json with every measurement", async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, "bench", "--quick", "--sessions", "2", "--runtime-dir", dir],
        { timeout: 240_000 },
        (err, out) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: out }),
      );
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/execute_command\("true"\)/);
    const result = JSON.parse(readFileSync(join(dir, "bench", "latest.json"), "utf8")) as {
      quick: boolean;
      rows: { name: string }[];
    };
    expect(result.quick).toBe(true);
    const names = result.rows.map((r) => r.name).join("\n");
    for (const part of [
      "execute_command",
      "send_text",
      "lossless",
      "sessions opened",
      "memory added per session (PSS)",
      "VmRSS added",
      "adoption",
      "viewer",
    ]) {
      expect(names).toContain(part);
    }
  });
});
