/**
 * The one-time page of ask_human_secret (docs/lab-and-viewer.md, "A secret from the human"):
 * plain HTML and a form POST, no script and no stylesheet (it needs no token but its own).
 * Everything shown is escaped: the reason comes from the agent, the prompt from the remote.
 */
import { esc } from "./pages.js";

export interface SecretPageInfo {
  requestId: string;
  /** The page's one-time token, posted back in a hidden field (never in the form's URL). */
  token: string;
  sessionId: string;
  profile: string;
  /** user@host:port */
  target: string;
  /** The password prompt on screen now (redacted). */
  prompt: string;
  reason: string;
  expiresAt: string;
  /** A note above the form (an empty submission). */
  note?: string;
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>${esc(title)} - ssh-mcp</title></head><body>${body}</body></html>`;
}

/** The form: who asks, for what, where it will be typed; a password field, Submit and Decline. */
export function secretFormPage(i: SecretPageInfo): string {
  return page(
    "Secret requested",
    `<h1>An agent asks you to type a secret</h1>
${i.note ? `<p id="note"><b>${esc(i.note)}</b></p>` : ""}
<dl>
<dt>Session</dt><dd id="session">${esc(i.sessionId)}</dd>
<dt>Profile</dt><dd id="profile">${esc(i.profile)}</dd>
<dt>Target</dt><dd id="target">${esc(i.target)}</dd>
<dt>Prompt on screen</dt><dd><code id="prompt">${esc(i.prompt)}</code></dd>
<dt>Reason given by the agent</dt><dd id="reason">${esc(i.reason)}</dd>
<dt>This page works once, until</dt><dd id="expires">${esc(i.expiresAt)}</dd>
</dl>
<p>What you type goes straight to the password prompt above. It is not shown to the agent, not
recorded (the transcript says only [HUMAN SECRET]) and not logged.</p>
<form method="post" action="/secret/${esc(encodeURIComponent(i.requestId))}" autocomplete="off">
<input type="hidden" name="token" value="${esc(i.token)}">
<label>Secret <input type="password" name="secret" id="secret" autocomplete="off" autofocus></label>
<button type="submit" name="action" value="submit" id="submit">Submit</button>
<button type="submit" name="action" value="decline" id="decline" formnovalidate>Decline</button>
</form>`,
  );
}

/** What happened, after a post or for a link that no longer works. */
export function secretResultPage(title: string, message: string): string {
  return page(title, `<h1 id="title">${esc(title)}</h1><p id="message">${esc(message)}</p>`);
}
