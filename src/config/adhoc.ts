import { SshMcpError } from "../errors.js";
import { profileSchema, type Profile } from "./schema.js";

/**
 * open_session(target: "user@host:port"): a host with no profile, only when the operator allows
 * it (allow_adhoc_targets in the profiles file, or SSH_MCP_ALLOW_ADHOC_TARGETS=1; default off).
 * The profile it gets is the schema's defaults: native ssh, strict host keys (an unknown host key
 * refuses the login: HOST_KEY_UNKNOWN), the user's own ssh config applying to the host name as in
 * their terminal, no secrets, no route.
 */
const TARGET =
  /^(?:([A-Za-z0-9_][A-Za-z0-9._-]{0,63})@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::(\d{1,5}))?$/;

export function adhocProfile(target: string, allowed: boolean, keepalive: number): Profile {
  if (!allowed) {
    throw new SshMcpError(
      "TARGET_NOT_ALLOWED",
      `open_session with a target needs the operator's consent: set "allow_adhoc_targets": true in the profiles file (or SSH_MCP_ALLOW_ADHOC_TARGETS=1). Otherwise open a profile (list_profiles shows them). Nothing was started.`,
    );
  }
  const m = TARGET.exec(target);
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new SshMcpError(
      "INVALID_ARGUMENT",
      `target: '${target.slice(0, 100)}' is not user@host[:port] (a host name, an IPv4 address or [IPv6], a port 1-65535).`,
    );
  }
  const host = (m[2] as string).replace(/^\[|\]$/g, "");
  const name = `${m[1] ? `${m[1]}@` : ""}${m[2]}${m[3] ? `:${port}` : ""}`;
  return {
    ...profileSchema.parse({}),
    name,
    host,
    port,
    ...(m[1] ? { username: m[1] } : {}),
    keepalive_interval: keepalive,
    // Without a port, the ssh config's Port for that name applies (as `ssh host` would).
    origin: { kind: "adhoc", ...(m[3] ? {} : { port_default: true }) },
  };
}

/**
 * A host name as one spelling: lower case, no trailing dot or brackets, an IPv4 address in its
 * dotted form whatever way it was written (012.0.0.5, 167772165, 0xa000005 and 10.0.5 are all
 * 10.0.0.5: the URL parser reads them as getaddrinfo does), an IPv4-mapped IPv6 address as IPv4.
 */
export function canonicalHost(name: string): string {
  let h = name
    .toLowerCase()
    .replace(/\.$/, "")
    .replace(/^\[|\]$/g, "");
  try {
    h = new URL(`http://${h.includes(":") ? `[${h}]` : h}/`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    // not a URL host (a name with characters URLs refuse): compared as it is
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1] as string, 16), parseInt(mapped[2] as string, 16)];
    h = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return h;
}

/**
 * How a profile reaches its host, as one string: its ProxyCommand, its ProxyJump hops as written,
 * or its profiles-file proxy_jump; "" when direct. Two profiles are the same machine only when
 * they reach the same address the same way (private ranges repeat behind different bastions).
 */
export function routeOf(p: Pick<Profile, "ssh" | "proxy_jump">): string {
  if (p.ssh?.proxycommand) return `command:${p.ssh.proxycommand}`;
  if (p.ssh?.proxyjump.length) return `jump:${p.ssh.proxyjump.join(",")}`;
  return p.proxy_jump ? `jump:${p.proxy_jump}` : "";
}
