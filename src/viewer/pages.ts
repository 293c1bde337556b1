/**
 * The viewer's two pages, as plain HTML built on the server (no build step). Everything shown
 * from a transcript is escaped; the session page renders the terminal with xterm.js.
 */
export function esc(v: unknown): string {
  return String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What the session page strips from a command's output (ANSI sequences, control characters). */
const STRIP =
  // eslint-disable-next-line no-control-regex
  /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>]|[\x00-\x08\x0b-\x1f\x7f]/g;
const OSC_C = "\x1b]133;C;sshmcp=";
const OSC_D = "\x1b]133;D;";

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

const STYLE = `body{font:14px system-ui,sans-serif;margin:0;background:#111;color:#ddd}
header{padding:10px 16px;background:#1b1b1b;border-bottom:1px solid #333}a{color:#7cc4ff}
table{border-collapse:collapse;width:100%;margin:8px 0 24px}td,th{padding:4px 8px;border-bottom:1px solid #2a2a2a;text-align:left}
h2{font-size:15px;margin:16px 16px 0}.open{color:#6d6}.closed{color:#999}.unhealthy{color:#f66}code{color:#ccc}
main{padding:0 16px}`;

export function indexPage(rows: SessionRow[], token: string): string {
  const groups = new Map<string, SessionRow[]>();
  for (const r of rows) groups.set(r.server_instance_id, [...(groups.get(r.server_instance_id) ?? []), r]);
  const sections = [...groups.entries()]
    .map(
      ([instance, list]) => `<h2>${esc(instance)}${list[0]?.scope === "legacy" ? " (legacy)" : ""}</h2>
<table><tr><th>session</th><th>status</th><th>owner</th><th>profile</th><th>host</th><th>last activity</th><th>attach</th></tr>
${list
  .map(
    (r) => `<tr><td><a href="/sessions/${esc(r.session_id)}?token=${esc(token)}">${esc(r.session_id)}</a></td>
<td class="${esc(r.status)}">${esc(r.status)}</td><td>${esc(r.owner_label ?? "")}</td><td>${esc(r.profile)}</td>
<td>${esc(r.host)}</td><td>${esc(r.last_activity_at)}</td><td><code>${esc(r.attach_command)}</code></td></tr>`,
  )
  .join("\n")}</table>`,
    )
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>ssh-mcp sessions</title><style>${STYLE}</style></head>
<body><header><b>ssh-mcp</b> sessions by server instance</header><main>${sections || "<p>No sessions yet.</p>"}</main></body></html>`;
}

export function sessionPage(sessionId: string, token: string, live: boolean): string {
  const q = `token=${encodeURIComponent(token)}`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(sessionId)} - ssh-mcp</title>
<link rel="stylesheet" href="/assets/xterm.css?${q}">
<style>${STYLE}#wrap{display:flex;gap:12px;padding:12px}#term{flex:1}#side{width:320px;font-size:12px;max-height:85vh;overflow:auto}
.send{border-left:3px solid #7cc4ff;padding:2px 6px;margin:4px 0;white-space:pre-wrap;word-break:break-all}.send.human{border-color:#fc6}
.badge{font-weight:bold}#bar button{margin-left:8px}
.cmd{border:1px solid #333;border-left:3px solid #7cc4ff;margin:6px 0;padding:4px 6px}.cmd .line{white-space:pre-wrap;word-break:break-all;color:#fff}
.cmd .out{white-space:pre-wrap;word-break:break-all;color:#aaa;max-height:12em;overflow:auto;margin-top:2px}
.cmd .st{float:right}.cmd.ok .st{color:#6d6}.cmd.fail .st{color:#f66}.cmd.running .st{color:#fc6}.note{color:#888;margin:4px 0}</style></head>
<body><header id="bar"><b>${esc(sessionId)}</b> <span id="status"></span>
<button id="mode">${live ? "show transcript" : "live terminal"}</button>
<button id="lock" ${live ? "" : "hidden"}>type (take input lock)</button></header>
<div id="wrap"><div id="term"></div><div id="side"><b>commands and input</b> (agent / human)<div id="sends"></div></div></div>
<script src="/assets/xterm.js?${q}"></script>
<script>
const sid = ${JSON.stringify(sessionId)}, token = ${JSON.stringify(token)}, live = ${live ? "true" : "false"};
const headers = { "x-ssh-mcp-token": token, "content-type": "application/json" };
const term = new Terminal({ convertEol: false, scrollback: 20000, fontSize: 13 });
term.open(document.getElementById("term"));
const status = (t) => (document.getElementById("status").textContent = t);
document.getElementById("mode").onclick = () => { location.search = "?" + new URLSearchParams({ token, live: live ? "0" : "1" }); };
function addSend(ev) {
  const d = document.createElement("div");
  const actor = ev.actor || "agent";
  d.className = "send " + actor;
  d.innerHTML = '<span class="badge"></span> <span class="tool"></span><div class="text"></div>';
  d.querySelector(".badge").textContent = actor;
  d.querySelector(".tool").textContent = ev.tool || "";
  d.querySelector(".text").textContent = ev.text || (ev.keys || []).join(" ");
  document.getElementById("sends").appendChild(d);
}
// A command is a block: what the agent asked for (not the line that carried it), its output
// between the invisible marks (docs/shells.md), its exit status, its actor and shell.
const blocks = new Map();
let capturing = null;
const OUT_MAX = 4000;
const BEL = ${JSON.stringify("\x07")};
function addBlock(ev) {
  const d = document.createElement("div");
  d.className = "cmd running";
  d.innerHTML = '<span class="st"></span><span class="badge"></span> <span class="tool"></span><div class="line"></div><div class="out"></div>';
  d.querySelector(".st").textContent = "running";
  d.querySelector(".badge").textContent = "agent";
  d.querySelector(".tool").textContent = (ev.tool || "execute_command") + (ev.shell ? " in " + ev.shell : "");
  d.querySelector(".line").textContent = "$ " + ev.command;
  document.getElementById("sends").appendChild(d);
  blocks.set(ev.command_id, { el: d, nonce: ev.nonce, out: "" });
}
function endBlock(ev) {
  const b = blocks.get(ev.command_id);
  if (!b) return;
  const ok = ev.status === "completed" && (ev.exit_code === 0 || ev.exit_code === null);
  b.el.className = "cmd " + (ok ? "ok" : "fail");
  b.el.querySelector(".st").textContent =
    ev.exit_code !== null && ev.exit_code !== undefined ? "exit " + ev.exit_code : ev.status + " (" + ev.completion + ")";
  if (capturing === b) capturing = null;
}
const STRIP = new RegExp(${JSON.stringify(STRIP.source)}, "g");
function showOutput(b, text) {
  if (b.out.length >= OUT_MAX) return;
  b.out += text.replace(STRIP, "");
  if (b.out.length > OUT_MAX) b.out = b.out.slice(0, OUT_MAX) + ${JSON.stringify("\n... (the rest: get_command)")};
  b.el.querySelector(".out").textContent = b.out;
}
function watchMarks(text) {
  for (const b of blocks.values()) {
    if (b.done || !b.nonce) continue;
    const c = ${JSON.stringify(OSC_C)} + b.nonce + BEL;
    const i = text.indexOf(c);
    if (i !== -1) { capturing = b; text = text.slice(i + c.length); }
  }
  if (!capturing) return;
  const d = text.indexOf(";sshmcp=" + capturing.nonce + BEL);
  if (d !== -1) {
    showOutput(capturing, text.slice(0, text.lastIndexOf(${JSON.stringify(OSC_D)}, d)));
    capturing.done = true;
    capturing = null;
  } else showOutput(capturing, text);
}
function onEvent(ev) {
  if (ev.dir === "recv") { if (!live) term.write(ev.text); watchMarks(ev.text); }
  else if (ev.dir === "session_meta" && !live && ev.width && ev.height) term.resize(ev.width, ev.height);
  else if (ev.dir === "command_start") addBlock(ev);
  else if (ev.dir === "command_complete" || ev.dir === "command_cancel") endBlock(ev);
  else if (ev.dir === "event" && ev.event === "shell") {
    const n = document.createElement("div");
    n.className = "note";
    n.textContent = "shell: " + (ev.name || ev.family);
    document.getElementById("sends").appendChild(n);
  }
  else if (ev.dir === "send" && ev.tool !== "execute_command" && ev.tool !== "search_logs" && ev.tool !== "probe") addSend(ev);
  else if (ev.dir === "session_health") status(ev.health_status + (ev.health_error ? ": " + ev.health_error : ""));
  else if (ev.dir === "event") status(ev.event);
}
const events = new EventSource("/api/sessions/" + sid + "/stream?" + new URLSearchParams({ token }));
events.onmessage = (m) => onEvent(JSON.parse(m.data));
if (live) {
  const size = { cols: term.cols, rows: term.rows };
  const screen = new EventSource("/api/sessions/" + sid + "/live?" + new URLSearchParams({ token }));
  screen.addEventListener("size", (m) => { const s = JSON.parse(m.data); term.resize(s.cols, s.rows); });
  screen.onmessage = (m) => term.write(Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0)));
  let locked = false;
  document.getElementById("lock").onclick = async () => {
    const r = await fetch("/api/sessions/" + sid + "/lock", { method: "POST", headers, body: JSON.stringify({ action: locked ? "release" : "acquire" }) });
    const j = await r.json();
    if (j.ok) { locked = !locked; document.getElementById("lock").textContent = locked ? "stop typing (release lock)" : "type (take input lock)"; }
    else status(j.error);
  };
  // Keystrokes go out one request at a time, in order; what is typed meanwhile is batched.
  let pending = "", sending = false;
  async function pump() {
    if (sending || !pending) return;
    sending = true;
    const data = pending;
    pending = "";
    try {
      const r = await fetch("/api/sessions/" + sid + "/input", { method: "POST", headers, body: JSON.stringify({ data }) });
      const j = await r.json();
      if (!j.ok) status(j.error);
    } finally {
      sending = false;
      pump();
    }
  }
  term.onData((data) => { if (locked) { pending += data; pump(); } });
}
</script></body></html>`;
}
