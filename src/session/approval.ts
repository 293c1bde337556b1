import { RE2JS } from "re2js";
import type { Profile } from "../config/schema.js";
import { SshMcpError } from "../errors.js";
import { redactText } from "../transcript/redact.js";
import type { SessionHost } from "./host.js";
import { maskText, MIN_MASKED, secretValues } from "./secrets.js";
import type { Session } from "./session.js";

/**
 * Approvals (docs/security.md, "Secrets by name and approvals"): input matching the profile's
 * `confirm_patterns` is typed only after the human behind the MCP client said yes in a form
 * (elicitation). Declined, cancelled or answered "no": APPROVAL_DECLINED; a client that cannot
 * show a form, a timeout, or a failed request: APPROVAL_UNAVAILABLE. Never silently allowed;
 * nothing is typed when refused, and each decision is an `approval` event in the transcript.
 */

/** The form an approval shows: one yes/no. */
export interface ApprovalForm {
  mode: "form";
  message: string;
  fields: { approve: { type: "boolean"; title: string } };
  required: string[];
}

/** Who can be asked: the MCP call's client (tools pass their ToolCall). */
export interface Asker {
  elicitation: { form: boolean };
  elicit(e: ApprovalForm, timeoutMs: number): Promise<{ action: string; content?: Record<string, unknown> }>;
}

type Decision = "approved" | "declined" | "unavailable";

/** Each profile's confirm_patterns, compiled once (validated at config load, schema.ts). */
const compiled = new WeakMap<string[], Array<{ re: RE2JS; source: string }>>();

function matchers(patterns: string[]): Array<{ re: RE2JS; source: string }> {
  let m = compiled.get(patterns);
  if (!m) {
    m = patterns.map((source) => ({ re: RE2JS.compile(source), source }));
    compiled.set(patterns, m);
  }
  return m;
}

/** The first of the profile's confirm_patterns the text matches (undefined: none, or none declared). */
export function confirmPattern(profile: Profile, text: string): string | undefined {
  if (!profile.confirm_patterns?.length) return undefined;
  return matchers(profile.confirm_patterns).find((m) => m.re.matcher(text).find())?.source;
}

/**
 * Asks the human before `text` is typed by `tool`, when it matches one of the profile's
 * confirm_patterns; returns when approved (or no pattern matches), throws otherwise. The text
 * shown and recorded is redacted and has secret values masked.
 */
export async function requireApproval(
  host: SessionHost,
  s: Session,
  tool: string,
  text: string,
  asker: Asker | undefined,
): Promise<void> {
  const pattern = confirmPattern(s.profile, text);
  if (pattern === undefined) return;
  const shown = maskText(redactText(text), secretValues(s.profile, host.env, MIN_MASKED));
  const where = `${s.profile.username ? `${s.profile.username}@` : ""}${s.profile.host}`;
  const message = `${tool} on session ${s.id} (${s.profile.name}, ${where}): ${shown}`;
  const decision = await ask(asker, message, host.config.timing.approvalTimeoutMs);
  s.writer.mustWrite("approval", { tool, pattern, command: shown, decision, by: "human" });
  if (decision === "approved") return;
  if (decision === "declined") {
    throw new SshMcpError(
      "APPROVAL_DECLINED",
      `The human declined ${tool} of '${shown.slice(0, 200)}' (it matches confirm_patterns /${pattern}/). Nothing was typed. Do not retry it as is: ask the human what to do instead.`,
      { pattern },
    );
  }
  throw new SshMcpError(
    "APPROVAL_UNAVAILABLE",
    `'${shown.slice(0, 200)}' matches confirm_patterns /${pattern}/ of profile '${s.profile.name}' and needs a human's approval, which could not be had (the MCP client cannot show a form, or no answer came in time). Nothing was typed. Use a client with form elicitation, or ask the operator to run it.`,
    { pattern },
  );
}

/** The human's answer: only an accepted form with approve=true approves. */
async function ask(asker: Asker | undefined, message: string, timeoutMs: number): Promise<Decision> {
  if (!asker?.elicitation.form) return "unavailable";
  try {
    const answer = await asker.elicit(
      {
        mode: "form",
        message,
        fields: { approve: { type: "boolean", title: "Run it?" } },
        required: ["approve"],
      },
      timeoutMs,
    );
    return answer.action === "accept" && answer.content?.approve === true ? "approved" : "declined";
  } catch {
    // A timeout, a cancelled call, a client that failed the request: nobody said yes.
    return "unavailable";
  }
}
