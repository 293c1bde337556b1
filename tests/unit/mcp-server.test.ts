import { describe, expect, it } from "vitest";
import { z } from "zod";
import { SshMcpError } from "../../src/errors.js";
import { describeZodError, errorResult, toolResult } from "../../src/mcp/server.js";

function textOf(r: ReturnType<typeof toolResult>): string {
  const first = r.content[0];
  expect(first?.type).toBe("text");
  return first?.type === "text" ? first.text : "";
}

describe("toolResult", () => {
  it("carries the payload as structuredContent and the same JSON as text", () => {
    const payload = { ok: true, output: "中文 😀\n", n: 1, nested: { a: [1, 2] } };
    const r = toolResult(payload);
    expect(r.structuredContent).toEqual(payload);
    expect(JSON.parse(textOf(r))).toEqual(payload);
    expect(r.content).toHaveLength(1);
    expect(r.isError).toBeUndefined();
  });

  it("marks errors with isError", () => {
    expect(toolResult({ ok: false }, true).isError).toBe(true);
  });
});

describe("errorResult", () => {
  it("turns an SshMcpError into {ok:false, error, code, data} with isError", () => {
    const err = new SshMcpError("UNKNOWN_SESSION", "Unknown session 'x'. Call list_sessions.", {
      session_id: "x",
    });
    const r = errorResult(err);
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toEqual({
      ok: false,
      error: "Unknown session 'x'. Call list_sessions.",
      code: "UNKNOWN_SESSION",
      data: { session_id: "x" },
    });
    expect(JSON.parse(textOf(r))).toEqual(r.structuredContent);
  });

  it("leaves out data when there is none", () => {
    const r = errorResult(new SshMcpError("CONFIG_ERROR", "bad"));
    expect(r.structuredContent).toEqual({ ok: false, error: "bad", code: "CONFIG_ERROR" });
  });

  it("turns anything else into INTERNAL_ERROR without a stack trace", () => {
    const boom = new TypeError("cannot read properties of undefined");
    const r = errorResult(boom);
    expect(r.isError).toBe(true);
    const sc = r.structuredContent as { ok: boolean; code: string; error: string };
    expect(sc.ok).toBe(false);
    expect(sc.code).toBe("INTERNAL_ERROR");
    expect(sc.error).toContain("cannot read properties of undefined");
    expect(sc.error).not.toContain("    at ");
    expect(textOf(r)).not.toMatch(/\n\s+at /);
    expect((errorResult("plain string").structuredContent as { error: string }).error).toContain(
      "plain string",
    );
    expect(JSON.parse(textOf(r))).toEqual(sc);
  });
});

describe("describeZodError", () => {
  const schema = z.object({
    session_id: z.string(),
    timeout: z.number().min(0).optional(),
    keys: z.array(z.string()).optional(),
  });

  it("names the failing field", () => {
    const r = schema.safeParse({ session_id: 5 });
    expect(r.success).toBe(false);
    if (!r.success) expect(describeZodError(r.error)).toMatch(/^'session_id': /);
  });

  it("names nested fields with dots and joins several issues", () => {
    const r = schema.safeParse({ timeout: -1, keys: ["a", 2] });
    expect(r.success).toBe(false);
    if (!r.success) {
      const msg = describeZodError(r.error);
      expect(msg).toContain("'session_id': ");
      expect(msg).toContain("'timeout': ");
      expect(msg).toContain("'keys.1': ");
      expect(msg.split("; ")).toHaveLength(3);
    }
  });

  it("says 'arguments' for a top-level failure", () => {
    const r = schema.safeParse("not an object");
    expect(r.success).toBe(false);
    if (!r.success) expect(describeZodError(r.error)).toMatch(/^arguments: /);
  });
});
