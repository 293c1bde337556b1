// The session page's script, served as a file (the Content-Security-Policy allows no inline
// script). What the server knows goes in data- attributes of <body>: the session id, the token
// the page was opened with, and whether it is in live mode.
/* global Terminal */
"use strict";
(() => {
  const page = document.body.dataset;
  const sid = page.session;
  const token = page.token;
  const live = page.live === "1";
  const headers = { "x-ssh-mcp-token": token, "content-type": "application/json" };
  const term = new Terminal({ convertEol: false, scrollback: 20000, fontSize: 13 });
  term.open(document.getElementById("term"));
  const status = (t) => (document.getElementById("status").textContent = t);
  document.getElementById("mode").addEventListener("click", () => {
    location.search = "?" + new URLSearchParams({ token, live: live ? "0" : "1" });
  });

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
  const BEL = "\x07";
  const OSC_C = "\x1b]133;C;sshmcp=";
  const OSC_D = "\x1b]133;D;";
  // ANSI sequences and control characters, stripped from a command's output.
  const STRIP =
    // eslint-disable-next-line no-control-regex
    /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>]|[\x00-\x08\x0b-\x1f\x7f]/g;

  function addBlock(ev) {
    const d = document.createElement("div");
    d.className = "cmd running";
    d.innerHTML =
      '<span class="st"></span><span class="badge"></span> <span class="tool"></span><div class="line"></div><div class="out"></div>';
    d.querySelector(".st").textContent = "running";
    d.querySelector(".badge").textContent = "agent";
    d.querySelector(".tool").textContent =
      (ev.tool || "execute_command") + (ev.shell ? " in " + ev.shell : "");
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
      ev.exit_code !== null && ev.exit_code !== undefined
        ? "exit " + ev.exit_code
        : ev.status + " (" + ev.completion + ")";
    if (capturing === b) capturing = null;
  }
  function showOutput(b, text) {
    if (b.out.length >= OUT_MAX) return;
    b.out += text.replace(STRIP, "");
    if (b.out.length > OUT_MAX) b.out = b.out.slice(0, OUT_MAX) + "\n... (the rest: get_command)";
    b.el.querySelector(".out").textContent = b.out;
  }
  function watchMarks(text) {
    for (const b of blocks.values()) {
      if (b.done || !b.nonce) continue;
      const c = OSC_C + b.nonce + BEL;
      const i = text.indexOf(c);
      if (i !== -1) {
        capturing = b;
        text = text.slice(i + c.length);
      }
    }
    if (!capturing) return;
    const d = text.indexOf(";sshmcp=" + capturing.nonce + BEL);
    if (d !== -1) {
      showOutput(capturing, text.slice(0, text.lastIndexOf(OSC_D, d)));
      capturing.done = true;
      capturing = null;
    } else showOutput(capturing, text);
  }
  function onEvent(ev) {
    if (ev.dir === "recv") {
      if (!live) term.write(ev.text);
      watchMarks(ev.text);
    } else if (ev.dir === "session_meta" && !live && ev.width && ev.height) term.resize(ev.width, ev.height);
    else if (ev.dir === "command_start") addBlock(ev);
    else if (ev.dir === "command_complete" || ev.dir === "command_cancel") endBlock(ev);
    else if (ev.dir === "event" && ev.event === "shell") {
      const n = document.createElement("div");
      n.className = "note";
      n.textContent = "shell: " + (ev.name || ev.family);
      document.getElementById("sends").appendChild(n);
    } else if (
      ev.dir === "send" &&
      ev.tool !== "execute_command" &&
      ev.tool !== "search_logs" &&
      ev.tool !== "probe"
    )
      addSend(ev);
    else if (ev.dir === "session_health")
      status(ev.health_status + (ev.health_error ? ": " + ev.health_error : ""));
    else if (ev.dir === "event") status(ev.event);
  }
  const events = new EventSource("/api/sessions/" + sid + "/stream?" + new URLSearchParams({ token }));
  events.onmessage = (m) => onEvent(JSON.parse(m.data));
  if (!live) return;

  const screen = new EventSource("/api/sessions/" + sid + "/live?" + new URLSearchParams({ token }));
  screen.addEventListener("size", (m) => {
    const s = JSON.parse(m.data);
    term.resize(s.cols, s.rows);
  });
  // The pane's own bytes (a session that does not redact: tmux attach -r).
  screen.onmessage = (m) => term.write(Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0)));
  // Redacted frames: the whole screen, redrawn; the terminal wraps the long lines itself.
  screen.addEventListener("frame", (m) => {
    const f = JSON.parse(m.data);
    if (f.cols !== term.cols || f.rows !== term.rows) term.resize(f.cols, f.rows);
    term.write(
      "\x1b[0m\x1b[H\x1b[2J\x1b[3J" +
        f.lines.join("\r\n") +
        "\x1b[" +
        (f.cursor.y + 1) +
        ";" +
        (f.cursor.x + 1) +
        "H",
    );
  });
  // A refused stream (too many live pages open: HTTP 429) or an ended session closes it for good.
  screen.onerror = () => {
    if (screen.readyState === EventSource.CLOSED)
      status("live view closed: the session ended, or too many live pages are open (close one and reload)");
  };
  let locked = false;
  const lockButton = document.getElementById("lock");
  lockButton.addEventListener("click", async () => {
    const r = await fetch("/api/sessions/" + sid + "/lock", {
      method: "POST",
      headers,
      body: JSON.stringify({ action: locked ? "release" : "acquire" }),
    });
    const j = await r.json();
    if (j.ok) {
      locked = !locked;
      lockButton.textContent = locked ? "stop typing (release lock)" : "type (take input lock)";
    } else status(j.error);
  });
  // Keystrokes go out one request at a time, in order; what is typed meanwhile is batched.
  let pending = "";
  let sending = false;
  async function pump() {
    if (sending || !pending) return;
    sending = true;
    const data = pending;
    pending = "";
    try {
      const r = await fetch("/api/sessions/" + sid + "/input", {
        method: "POST",
        headers,
        body: JSON.stringify({ data }),
      });
      const j = await r.json();
      if (!j.ok) status(j.error);
    } finally {
      sending = false;
      pump();
    }
  }
  // Under a readonly/restricted profile the server checks what is typed as lines (one policy for
  // every input path): the page keeps the line here, shows it, and sends it on Enter. Keys that
  // are not text (C-c, arrows, Escape) go at once, and are checked as keys.
  const guarded = document.body.dataset.guarded === "1";
  let line = "";
  function typed(data) {
    if (data === "\r") {
      pending += line + "\r";
      line = "";
    } else if (data === "\x7f") {
      line = line.slice(0, -1);
      // eslint-disable-next-line no-control-regex
    } else if (/^[^\x00-\x1f\x7f]+$/.test(data)) {
      line += data;
    } else {
      pending += data;
    }
    status(line ? "line (Enter sends it): " + line : "");
  }
  term.onData((data) => {
    if (!locked) return;
    if (guarded) typed(data);
    else pending += data;
    pump();
  });
})();
