import { z } from "zod";
import { secretEnvNames } from "../config/load.js";
import { profileRow } from "../ssh/profile-view.js";
import { SshMcpError } from "../errors.js";
import { diagnoseProfile } from "../ssh/diagnose.js";
import { acquireLock, lockStatus, releaseLock } from "../session/locks.js";
import { startProgress } from "../session/progress.js";
import { secretsSummary } from "../session/secrets.js";
import { defineSessionTool, defineTool, force, sessionId } from "./types.js";

/**
 * MCP calls always act as the agent: an actor cannot be claimed (only the viewer, with the
 * operator's credential, types and locks as "human"). The field stays for old clients that send
 * "agent".
 */
const agentOnly = z
  .literal("agent", { error: "MCP calls act as 'agent'; a human takes the input lock in the viewer." })
  .default("agent")
  .describe("Always 'agent' over MCP");

export const sessionTools = [
  defineTool({
    name: "open_session",
    title: "Open SSH session",
    description:
      "Open a persistent interactive SSH terminal for a configured profile (list_profiles: the profiles file, every Host of the user's ssh config, the built-in lab). It lives in tmux: it survives MCP server restarts and a human can attach with the returned attach_command. Then use execute_command for shell commands, send_text for menus and prompts.",
    inputSchema: z.object({
      profile: z
        .string()
        .min(1)
        .max(128)
        .optional()
        .describe("Profile name (list_profiles), e.g. an ssh config Host alias"),
      target: z
        .string()
        .min(1)
        .max(300)
        .optional()
        .describe(
          "Instead of a profile: user@host[:port], only where the operator set allow_adhoc_targets (strict host keys)",
        ),
      owner_label: z
        .string()
        .max(200)
        // eslint-disable-next-line no-control-regex
        .regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters")
        .refine((v) => !v.includes("|:|"), "must not contain '|:|'")
        .optional()
        .describe("What this session is for, e.g. 'payment-log-check'"),
    }),
    annotations: { openWorldHint: true },
    links: (_a, r) => newSessionId(r),
    handler: async (args, { manager, call }) => {
      if ((args.profile === undefined) === (args.target === undefined))
        throw new SshMcpError(
          "INVALID_ARGUMENT",
          "Give exactly one of profile (list_profiles shows them) or target (user@host[:port]).",
        );
      const progress = startProgress(call.progress, manager);
      const s = await manager
        .open(args.profile ?? "", args.owner_label ?? null, progress, args.target)
        .finally(() => progress?.close());
      const info = manager.info(s);
      return { session: info, viewer_url: info.viewer_url, attach_command: info.attach_command };
    },
  }),
  defineTool({
    name: "list_sessions",
    title: "List sessions",
    description:
      "List sessions: this server's (open and closed, including ones adopted after a restart) and those of other live ssh-mcp servers on the same tmux socket (owned_by_this_server: false; drive them only with force). Shows status, owner, input lock and attached_clients (humans watching through tmux).",
    inputSchema: z.object({}),
    annotations: { readOnlyHint: true },
    handler: async (_args, { manager, serverMeta }) => {
      const sessions = await manager.listAll();
      return {
        server: serverMeta(),
        // A profile's declared secrets by name, and whether each variable is set: never a value.
        sessions: sessions.map((x) => {
          const p = manager.config.profiles[x.profile];
          return p?.secrets ? { ...x, secrets: secretsSummary(p, manager.env) } : x;
        }),
        viewer_base_url: manager.viewerUrl(),
      };
    },
  }),
  defineSessionTool({
    name: "close_session",
    title: "Close session",
    description: "Close an SSH session: ends the ssh process and its tmux window. The transcript is kept.",
    inputSchema: z.object({ session_id: sessionId, force }),
    annotations: { destructiveHint: true, idempotentHint: true },
    access: "close",
    handler: async (_a, s, { manager }) => ({ session: manager.info(await manager.close(s)) }),
  }),
  defineTool({
    name: "list_profiles",
    title: "List profiles",
    description:
      "List the profiles open_session takes: the profiles file's, every concrete Host of the user's ssh config (resolved with ssh -G: host, user, port, jump chain, identity files) and the built-in lab. Each row says where it comes from (file:line), its bridge, security mode, route steps, secret names (never values) and a problem when one is known (missing key, unknown host key, ssh refusing the config). config_error is set when the last edit of a config file was refused: the last good configuration stays in force.",
    inputSchema: z.object({}),
    annotations: { readOnlyHint: true },
    handler: async (_a, { manager }) => {
      await manager.catalog?.settled;
      const config = manager.config;
      const set = config.profileSet;
      return {
        profiles: Object.values(config.profiles).map((p) => profileRow(p, config)),
        profiles_file: { path: config.configPath, found: config.configFound },
        ssh_config: set.sshConfigPath ? { path: set.sshConfigPath, files: set.sshFiles } : null,
        allow_adhoc_targets: set.allowAdhocTargets,
        notes: set.notes,
        config_error: manager.catalog?.error ?? null,
      };
    },
  }),
  defineTool({
    name: "diagnose_profile",
    title: "Diagnose profile",
    description:
      "Check a profile without connecting: key file (exists, type, encrypted), whether the passphrase/password variables are set (never their values), known_hosts status for the host, bridge, route and security mode. Use it when open_session fails.",
    inputSchema: z.object({ profile: z.string().min(1).max(128).describe("Profile name") }),
    annotations: { readOnlyHint: true },
    handler: async (a, { manager }) => {
      await manager.catalog?.settled;
      const p = manager.profile(a.profile);
      const diagnosis = await diagnoseProfile(
        p,
        manager.env,
        secretEnvNames(manager.config),
        manager.config.home,
      );
      return p.secrets
        ? { diagnosis: { ...diagnosis, secrets: secretsSummary(p, manager.env) } }
        : { diagnosis };
    },
  }),
  defineSessionTool({
    name: "reopen_session",
    title: "Reopen session",
    description:
      "Log in again with a closed or unhealthy session's profile, owner label and route, as a new session linked to the old one (previous_session_id). Never happens automatically: the remote shell state (a pod shell, cd, env) is NOT restored; walk back to it yourself. An old session still open is closed first.",
    inputSchema: z.object({ session_id: sessionId, force }),
    annotations: { openWorldHint: true },
    // The old session must be one that may be closed: refused before any login.
    access: "close",
    links: (_a, r) => newSessionId(r),
    handler: async (args, old, { manager, call }) => {
      const progress = startProgress(call.progress, manager);
      const { session, previous } = await manager
        .reopen(old, args.force, progress)
        .finally(() => progress?.close());
      const info = manager.info(session);
      return {
        session: info,
        previous_session_id: previous.id,
        viewer_url: info.viewer_url,
        attach_command: info.attach_command,
      };
    },
  }),
  defineSessionTool({
    name: "acquire_input_lock",
    title: "Acquire input lock",
    description:
      "Hold a session's input for the agent for ttl seconds: sends by others (a human in the viewer) are refused until it expires or is released. Use before a sequence that must not be interleaved with a human typing. MCP calls always act as 'agent'; a human takes the lock in the viewer.",
    inputSchema: z.object({
      session_id: sessionId,
      actor: agentOnly,
      ttl: z.number().gt(0).max(86_400).default(300).describe("Seconds until the lock expires"),
      force,
    }),
    annotations: {},
    access: "claim",
    handler: async (a, s, { manager }) => ({ lock: await acquireLock(manager, s, a.actor, a.ttl, a.force) }),
  }),
  defineSessionTool({
    name: "release_input_lock",
    title: "Release input lock",
    description:
      "Release the agent's input lock on a session. A lock a human took in the viewer is released only with force: true (recorded).",
    inputSchema: z.object({
      session_id: sessionId,
      actor: agentOnly,
      force,
    }),
    annotations: { idempotentHint: true },
    access: "claim",
    handler: async (a, s, { manager }) => releaseLock(manager, s, a.actor, a.force),
  }),
  defineSessionTool({
    name: "input_lock_status",
    title: "Input lock status",
    description: "Who holds a session's input lock and until when (lock: null when free).",
    inputSchema: z.object({ session_id: sessionId }),
    annotations: { readOnlyHint: true },
    access: "read",
    handler: async (_a, s, { manager }) => ({ lock: await lockStatus(manager, s) }),
  }),
];

/** The session a result opened (open_session, reopen_session): its resources are linked. */
function newSessionId(result: Record<string, unknown>): string | undefined {
  return (result.session as { session_id?: string } | undefined)?.session_id;
}
