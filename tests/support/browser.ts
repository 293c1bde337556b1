/**
 * Test support: the real browser the viewer tests drive (Debian's chromium through
 * playwright-core, headless, no network of its own), and a reader of the viewer's
 * server-sent event streams.
 */
import { chromium, type Browser } from "playwright-core";
import { expect } from "vitest";

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Reads a server-sent-event stream until `done` says so (or the deadline), then closes it. */
export async function readStream(url: string, done: (text: string) => boolean, ms = 10_000): Promise<string> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline && !done(text)) {
      const timer = setTimeout(() => ac.abort(), Math.max(1, deadline - Date.now()));
      const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
      clearTimeout(timer);
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    ac.abort();
  }
  return text;
}
