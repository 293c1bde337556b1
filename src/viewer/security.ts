import { timingSafeEqual } from "node:crypto";

/**
 * The viewer's guards, as pure functions: a per-instance token on every route, and Host/Origin
 * checks so a web page elsewhere (DNS rebinding, cross-site posts) cannot read or type into a
 * session even though the viewer listens on loopback.
 */
export function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Host header values we answer to: the bound host and the loopback names, with our port. */
export function allowedHosts(host: string, port: number): Set<string> {
  const names = new Set([host.toLowerCase(), "127.0.0.1", "localhost", "[::1]"]);
  const withPort = [...names].map((n) => `${n.includes(":") && !n.startsWith("[") ? `[${n}]` : n}:${port}`);
  // A browser leaves the port out of Host on port 80.
  return new Set(port === 80 ? [...withPort, ...names] : withPort);
}

export function hostAllowed(hostHeader: string | undefined, allowed: Set<string>): boolean {
  return typeof hostHeader === "string" && allowed.has(hostHeader.toLowerCase());
}

/** A present Origin must be one of ours; browsers send it on every POST and on cross-site GETs. */
export function originAllowed(origin: string | undefined, allowed: Set<string>): boolean {
  if (origin === undefined) return true;
  try {
    const u = new URL(origin);
    return u.protocol === "http:" && allowed.has(u.host.toLowerCase());
  } catch {
    return false;
  }
}

/**
 * The Content-Security-Policy of every response: scripts and styles only from our own files
 * (no inline script, so injected markup could not run even if escaping failed somewhere), no
 * plugins, no <base> rewriting, no framing (clickjacking of the lock button), no form posts.
 * `inlineStyles` is for the session page alone: xterm.js 5.5's DOM renderer writes <style>
 * elements (theme, cell size) and style attributes (truecolor cells) at run time, with no nonce
 * option (xtermjs/xterm.js#4445), and the terminal does not render without them. Styles cannot
 * run script, and default-src 'self' keeps CSS from loading anything from elsewhere.
 */
export function contentSecurityPolicy(inlineStyles = false, formPosts = false): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    inlineStyles ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    // Only ask_human_secret's page posts a form, to its own origin.
    formPosts ? "form-action 'self'" : "form-action 'none'",
  ].join("; ");
}

/** Headers on every response, errors and event streams included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": contentSecurityPolicy(),
  "x-content-type-options": "nosniff",
  // The URL carries the token: never send it on as a Referer.
  "referrer-policy": "no-referrer",
};
