import { SshMcpError, type ErrorCode } from "../errors.js";
import type { Profile } from "../config/schema.js";
import { knownHostsName } from "../ssh/known-hosts.js";

/** What a failure's message names: the profile, where it connects, its known_hosts file and entry. */
interface LoginTarget {
  profile: Profile;
  target: string;
  khFile: string;
  hostSpec: string;
}

/** A line the bridge prints (in OpenSSH's words) and the error it means; the first match wins. */
interface FailureRule {
  pattern: RegExp;
  code: ErrorCode;
  message: (t: LoginTarget) => string;
}

const FAILURE_RULES: FailureRule[] = [
  {
    pattern: /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i,
    code: "HOST_KEY_MISMATCH",
    message: ({ target, khFile, hostSpec }) =>
      `The host key of ${target} does not match the one in ${khFile}: refused (this can be a man-in-the-middle attack). ` +
      `If the server was legitimately re-keyed, verify the new fingerprint out of band, remove the old entry with ` +
      `\`ssh-keygen -R '${hostSpec}' -f ${khFile}\`, then call open_session again.`,
  },
  {
    pattern: /No .*host key is known for|Host key verification failed/i,
    code: "HOST_KEY_UNKNOWN",
    message: ({ target, khFile, profile }) =>
      `The host key of ${target} is not in ${khFile} and strict checking is on. Verify its fingerprint, then add it ` +
      `(\`ssh-keyscan -p ${profile.port} ${profile.host} >> ${khFile}\`) or set "auto_add_host_key": true in profile '${profile.name}' to accept new hosts.`,
  },
  {
    pattern: /Could not resolve hostname/i,
    code: "CONNECTION_FAILED",
    message: ({ profile }) =>
      `Could not resolve host '${profile.host}'. Check "host" in profile '${profile.name}'.`,
  },
  {
    pattern: /Connection refused/i,
    code: "CONNECTION_FAILED",
    message: ({ target, profile }) =>
      `Connection to ${target} refused: no SSH server listens there. Check "host"/"port" in profile '${profile.name}' and that sshd runs.`,
  },
  {
    pattern: /timed out|Connection timeout/i,
    code: "CONNECT_TIMEOUT",
    message: ({ target }) =>
      `Connecting to ${target} timed out. Check the network path (VPN, proxy_jump) and call open_session again.`,
  },
  {
    pattern: /incorrect passphrase|bad passphrase/i,
    code: "AUTH_FAILED",
    message: ({ profile }) =>
      `The key ${profile.key_filename ?? ""} could not be decrypted: wrong passphrase in $${profile.passphrase_env ?? "SSH_MCP_KEY_PASSPHRASE"}. Set the right one in the MCP server's environment and restart it.`,
  },
  {
    pattern: /Permission denied|Too many authentication failures|no supported authentication methods/i,
    code: "AUTH_FAILED",
    message: authFailedMessage,
  },
];

/** Names what the profile relies on to log in, so the reader knows what to check. */
function authFailedMessage({ target, profile }: LoginTarget): string {
  const hints: string[] = [];
  if (profile.key_filename)
    hints.push(`the public key of ${profile.key_filename} is in the server's authorized_keys`);
  if (profile.passphrase_env) hints.push(`$${profile.passphrase_env} holds the key's passphrase`);
  if (profile.password_env) hints.push(`$${profile.password_env} holds the right password`);
  hints.push(`"username" (${profile.username ?? "default: local user"}) is right`);
  return `Authentication to ${target} failed. Check that ${hints.join(", ")}; run \`ssh-mcp doctor\` for a local check.`;
}

/**
 * Reads why an ssh login failed from what the bridge printed before it exited, and turns it
 * into an error the model (and the human behind it) can act on.
 */
export function classifyLoginFailure(text: string, exitStatus: number | null, profile: Profile): SshMcpError {
  const t: LoginTarget = {
    profile,
    target: profile.ssh_config_host ?? `${profile.host}:${profile.port}`,
    khFile: profile.known_hosts_file ?? "~/.ssh/known_hosts",
    hostSpec: knownHostsName(profile.host, profile.port),
  };
  const tail = lastLines(text, 8);
  const data = { exit_status: exitStatus, output_tail: tail };
  const rule = FAILURE_RULES.find((r) => r.pattern.test(text));
  if (rule) return new SshMcpError(rule.code, rule.message(t), data);
  return new SshMcpError(
    "CONNECTION_FAILED",
    `The SSH bridge to ${t.target} exited${exitStatus === null ? "" : ` with status ${exitStatus}`} before a shell appeared: ${tail || "(no output)"}`,
    data,
  );
}

export function lastLines(text: string, n: number): string {
  return text
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .slice(-n)
    .join("\n");
}

/**
 * A bridge that died with ssh's own error status (255) lost its transport (connection reset,
 * server gone, keepalive timeout): the session is unhealthy, not cleanly closed. Any other status
 * is the remote shell's exit status after a normal `exit`.
 */
export function isTransportLoss(_text: string, exitStatus: number | null): boolean {
  return exitStatus === 255;
}
