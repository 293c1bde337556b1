/**
 * The viewer's two pages, as plain HTML built on the server (no build step). Everything shown
 * from a transcript is escaped; the session page renders the terminal with xterm.js.
 */
/** Text for HTML: the five characters that could open markup or end an attribute, as entities. */
export function esc(v: unknown): string {
  return String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface SessionRow {
  session_id: string;
  server_instance_id: string;
  scope: string;
  status: string;
  owner_label: string | null;
  profile: string;
  host: string;
  last_activity_at: string;
  attach_command: string;
}

/** The stylesheet link: every asset needs the token too. */
const stylesheet = (token: string): string =>
  `<link rel="stylesheet" href="/assets/viewer.css?token=${esc(encodeURIComponent(token))}">`;

/** The index table's columns; /assets/index.js has the same list. */
const INDEX_COLUMNS = ["session", "status", "owner", "profile", "host", "last activity", "attach"];

/**
 * The index: one table per server instance, rows as the server sees them now. It works as it is;
 * its script (/assets/index.js, which builds the same markup) follows /api/sessions/events and
 * redraws <main> when a session or an instance appears.
 */
export function indexPage(rows: SessionRow[], token: string): string {
  const groups = new Map<string, SessionRow[]>();
  for (const r of rows) groups.set(r.server_instance_id, [...(groups.get(r.server_instance_id) ?? []), r]);
  const sections = [...groups.entries()]
    .map(
      ([
        instance,
        list,
      ]) => `<section><h2>${esc(instance)}${list[0]?.scope === "legacy" ? " (legacy)" : ""}</h2>
<table><thead><tr>${INDEX_COLUMNS.map((c) => `<th>${c}</th>`).join("")}</tr></thead><tbody>
${list
  .map(
    (r) => `<tr><td><a href="/sessions/${esc(r.session_id)}?token=${esc(token)}">${esc(r.session_id)}</a></td>
<td class="${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.owner_label ?? "")}</td><td>${esc(r.profile)}</td>
<td>${esc(r.host)}</td><td>${esc(r.last_activity_at)}</td><td><code>${esc(r.attach_command)}</code></td></tr>`,
  )
  .join("\n")}</tbody></table></section>`,
    )
    .join("\n");
  const q = `token=${esc(encodeURIComponent(token))}`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>ssh-mcp sessions</title>${stylesheet(token)}</head>
<body data-token="${esc(token)}"><header><b>ssh-mcp</b> sessions by server instance</header>
<main id="sessions">${sections || "<p>No sessions yet.</p>"}</main>
<script src="/assets/index.js?${q}"></script></body></html>`;
}

/**
 * The session page: markup only. Its script is /assets/session.js (no inline script under the
 * Content-Security-Policy); what it needs from the server is in data- attributes of <body>.
 */
export function sessionPage(sessionId: string, token: string, live: boolean, guarded = false): string {
  const q = `token=${esc(encodeURIComponent(token))}`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(sessionId)} - ssh-mcp</title>
<link rel="stylesheet" href="/assets/xterm.css?${q}">${stylesheet(token)}</head>
<body data-session="${esc(sessionId)}" data-token="${esc(token)}" data-live="${live ? "1" : "0"}" data-guarded="${guarded ? "1" : "0"}">
<header id="bar"><b>${esc(sessionId)}</b> <span id="status"></span>
<button id="mode">${live ? "show transcript" : "live terminal"}</button>
<button id="lock" ${live ? "" : "hidden"}>type (take input lock)</button></header>
<div id="wrap"><div id="term"></div><div id="side"><b>commands and input</b> (agent / human)<div id="sends"></div></div></div>
<script src="/assets/xterm.js?${q}"></script>
<script src="/assets/session.js?${q}"></script></body></html>`;
}
