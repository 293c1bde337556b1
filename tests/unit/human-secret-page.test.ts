import { describe, expect, it } from "vitest";
import { SshMcpError } from "../../src/errors.js";
import { HumanSecretRequests } from "../../src/session/human-secret.js";
import { secretFormPage, secretResultPage } from "../../src/viewer/secret-page.js";
import { contentSecurityPolicy } from "../../src/viewer/security.js";

const info = {
  requestId: "hs_AAAAAAAAAAAAAAAA",
  token: "tok-123",
  sessionId: "s1",
  profile: "prod",
  target: "root@db1:22",
  prompt: "[sudo] password for <b>root</b>: ",
  reason: `restart nginx <script>alert("x")</script> & 'reload'`,
  expiresAt: "2026-01-01T00:05:00.000Z",
};

describe("the one-time page", () => {
  it("shows the reason and the prompt as text, never as markup", () => {
    const html = secretFormPage(info);
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<b>root</b>");
    expect(html).toContain("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;reload&#39;");
    expect(html).toContain("[sudo] password for &#60;b&#62;root&#60;/b&#62;: ");
  });

  it("posts to its own path with the token in a hidden field, a password field, Submit and Decline", () => {
    const html = secretFormPage(info);
    expect(html).toContain(`<form method="post" action="/secret/hs_AAAAAAAAAAAAAAAA"`);
    expect(html).toContain(`<input type="hidden" name="token" value="tok-123">`);
    expect(html).toContain(`type="password" name="secret"`);
    expect(html).toMatch(/value="submit"[^>]*>Submit</);
    expect(html).toMatch(/value="decline"[^>]*>Decline</);
    expect(html).not.toMatch(/<script|<link|style=/);
  });

  it("escapes a result's message", () => {
    expect(secretResultPage("Not typed", "<img src=x>")).toContain("&#60;img src=x&#62;");
  });

  it("its Content-Security-Policy allows a form post to its own origin only", () => {
    expect(contentSecurityPolicy(false, true)).toContain("form-action 'self'");
    expect(contentSecurityPolicy()).toContain("form-action 'none'");
  });
});

describe("pending requests", () => {
  it("opens with its own token only, once: then used", () => {
    const reqs = new HumanSecretRequests();
    const { request, token } = reqs.create("s1", "why");
    expect(reqs.check(request.id, "wrong")).toBe("bad_token");
    expect(reqs.check(request.id, undefined)).toBe("bad_token");
    expect(reqs.check("hs_nope", token)).toBe("unknown");
    expect(reqs.check(request.id, token)).toBe(request);
    expect(reqs.claim(request.id, token)).toBe(request);
    expect(reqs.claim(request.id, token)).toBe("used");
    reqs.settle(request.id, { kind: "typed" });
    expect(reqs.check(request.id, token)).toBe("used");
  });

  it("a claimed page is not ended by expiry or a cancel: only its own outcome", () => {
    const reqs = new HumanSecretRequests();
    const { request, token } = reqs.create("s1", "why");
    reqs.claim(request.id, token);
    reqs.settle(request.id, { kind: "cancelled" });
    reqs.settle(request.id, { kind: "expired" });
    expect(reqs.get(request.id)?.outcome).toBeUndefined();
    reqs.settle(request.id, { kind: "declined" });
    expect(reqs.get(request.id)?.outcome).toEqual({ kind: "declined" });
  });

  it("wakes a waiter with the outcome; a wait past its life sees it expired", async () => {
    const reqs = new HumanSecretRequests(50);
    const a = reqs.create("s1", "why");
    const waiting = reqs.wait(a.request.id, 10_000);
    reqs.settle(a.request.id, { kind: "typed" });
    expect(await waiting).toEqual({ kind: "typed" });
    const b = reqs.create("s1", "why");
    expect(await reqs.wait(b.request.id, 10_000)).toEqual({ kind: "expired" });
    expect(reqs.check(b.request.id, b.token)).toBe("expired");
  });

  it("a wait capped at the page's life sees it expired even when its timer runs a little early", async () => {
    const reqs = new HumanSecretRequests(5000);
    const a = reqs.create("s1", "why");
    // Ends a few ms before the life by Date.now(), as a Node timer scheduled for that instant may.
    const outcome = await reqs.wait(a.request.id, a.request.expiresAt - Date.now() - 5 - 4990);
    expect(outcome).toBeUndefined();
    const late = new HumanSecretRequests(40);
    const b = late.create("s1", "why");
    expect(await late.wait(b.request.id, Math.max(0, b.request.expiresAt - Date.now() - 5))).toEqual({
      kind: "expired",
    });
  });

  it("a wait ends early when its signal aborts, with no outcome", async () => {
    const reqs = new HumanSecretRequests();
    const { request, token } = reqs.create("s1", "why");
    const ac = new AbortController();
    const waiting = reqs.wait(request.id, 10_000, ac.signal);
    ac.abort();
    expect(await waiting).toBeUndefined();
    reqs.settle(request.id, { kind: "cancelled" });
    expect(reqs.check(request.id, token)).toBe("cancelled");
  });

  it("a session that stops being open ends its requests, and only its own, with the error given", async () => {
    const reqs = new HumanSecretRequests();
    const mine = reqs.create("s1", "why");
    const other = reqs.create("s2", "why");
    const waiting = reqs.wait(mine.request.id, 10_000);
    const closed = new SshMcpError("SESSION_CLOSED", "closed");
    reqs.endSession("s1", closed);
    expect(await waiting).toEqual({ kind: "refused", error: closed });
    expect(reqs.get(other.request.id)?.outcome).toBeUndefined();
  });
});
