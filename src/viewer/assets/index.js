// The index page's script, served as a file (the Content-Security-Policy allows no inline
// script). The page works without it; with it, the page follows /api/sessions/events and redraws
// its tables from each list of rows, so a new session or server instance shows without a reload.
// It builds the markup the server does (pages.ts indexPage), and every field goes in as text
// (textContent, attribute values through the DOM), never as markup.
"use strict";
(() => {
  const token = document.body.dataset.token;
  const main = document.getElementById("sessions");
  const COLUMNS = ["session", "status", "owner", "profile", "host", "last activity", "attach"];

  function element(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  function row(r) {
    const tr = document.createElement("tr");
    const link = element("a", r.session_id);
    link.href = "/sessions/" + encodeURIComponent(r.session_id) + "?" + new URLSearchParams({ token });
    const first = document.createElement("td");
    first.appendChild(link);
    const attach = document.createElement("td");
    attach.appendChild(element("code", r.attach_command || ""));
    tr.append(
      first,
      element("td", r.status, r.status),
      element("td", r.owner_label || ""),
      element("td", r.profile),
      element("td", r.host),
      element("td", r.last_activity_at),
      attach,
    );
    return tr;
  }

  function section(instance, list) {
    const s = document.createElement("section");
    s.appendChild(element("h2", instance + (list[0].scope === "legacy" ? " (legacy)" : "")));
    const table = document.createElement("table");
    const head = document.createElement("tr");
    for (const c of COLUMNS) head.appendChild(element("th", c));
    table.createTHead().appendChild(head);
    const body = table.createTBody();
    for (const r of list) body.appendChild(row(r));
    s.appendChild(table);
    return s;
  }

  function render(rows) {
    const groups = new Map();
    for (const r of rows) {
      if (!groups.has(r.server_instance_id)) groups.set(r.server_instance_id, []);
      groups.get(r.server_instance_id).push(r);
    }
    if (!groups.size) main.replaceChildren(element("p", "No sessions yet."));
    else main.replaceChildren(...[...groups].map(([instance, list]) => section(instance, list)));
  }

  // EventSource reconnects by itself (a restarted server), and the first message on each
  // connection is the whole list, so nothing is missed in between.
  const events = new EventSource("/api/sessions/events?" + new URLSearchParams({ token }));
  events.onmessage = (m) => render(JSON.parse(m.data).sessions);
})();
