import { z } from "zod";
import { SECRET_NAME } from "../config/schema.js";
import { typeSecret } from "../session/operations.js";
import { namedSecret, outputAfter, secretMask } from "../session/secrets.js";
import { defineSessionTool, force, sessionId } from "./types.js";

/** How long send_secret waits for the output after the secret (at most), in ms. */
const AFTER_TIMEOUT_MS = 5000;

export const secretTools = [
  defineSessionTool({
    name: "send_secret",
    title: "Send secret",
    description:
      "Type a secret the session's profile declares (by its name, e.g. 'sudo') at the password prompt on screen, then Enter; you never see its value. Only at a no-echo password prompt (e.g. '[sudo] password for x:', 'Password:'), matching the secret's prompt if it has one, with nothing typed since it appeared: otherwise NO_PASSWORD_PROMPT and nothing is typed. Run the command that asks first (execute_command returns state 'awaiting_input', input_kind 'password'). Returns the output after it (masked: the value shows as [SECRET:name]). UNKNOWN_SECRET lists the declared names; SECRET_MISSING names the unset environment variable.",
    inputSchema: z.object({
      session_id: sessionId,
      name: z
        .string()
        .regex(SECRET_NAME, "must be a secret name the profile declares (letters, digits, _ and -)")
        .describe("The secret's name in the profile's secrets"),
      force,
    }),
    annotations: { openWorldHint: true },
    access: "send",
    handler: async (a, target, { manager }) => {
      const s = target.session;
      const secret = namedSecret(s.profile, manager.env, a.name);
      const start = s.stream.end;
      const release = s.stream.pin(start);
      try {
        await typeSecret(manager, target, {
          value: secret.value,
          shown: secretMask(a.name),
          tool: "send_secret",
          actor: "agent",
          prompt: secret.prompt,
          force: a.force,
        });
        const after = await outputAfter(s, start, manager.config.timing.idleMs, AFTER_TIMEOUT_MS);
        // Masked again by every tool's wrapper (types.ts); the value is never part of a result.
        return { sent: true, secret: a.name, screen_after: after };
      } finally {
        release();
      }
    },
  }),
];
