#!/usr/bin/env node
/**
 * The tap: tmux `pipe-pane -O` runs it with the pane's raw output on stdin. It appends one
 * `recv` event per chunk to the transcript and keeps running while the MCP server is down, so
 * no output is ever lost. UTF-8 is decoded with a StringDecoder, which holds back a partial
 * multi-byte character until its remaining bytes arrive.
 *
 * With --redact, secrets are masked line by line (redact.ts): complete lines go out at once,
 * an unfinished last line (a prompt) is held at most HOLD_MS (100 ms) so a secret split across two reads
 * is still seen whole. When it is let go, the redactor keeps it as the open line: a value that
 * comes later on the same line (`password=` now, `hunter2` a second later) is still masked.
 * A line is also cut just past an ssh-mcp mark (OSC 133 with `sshmcp=`): a command's end mark
 * is followed by the prompt with no line break, and holding it would add HOLD_MS to every command.
 *
 * With --masks PATH (a profile that declares secrets, whatever its redact setting), every line
 * that goes out also has each declared secret value masked as `[SECRET:name]`, by the masks file
 * the server wrote (masks.ts): the tap gets a path, never a value.
 */
import { StringDecoder } from "node:string_decoder";
import stripAnsi from "strip-ansi";
import { mayHoldSecret, Redactor } from "./redact.js";
import { TranscriptWriter } from "./writer.js";

const args = process.argv.slice(2);
const redact = args[0] === "--redact";
if (redact) args.shift();
const masksAt = args[0] === "--masks" ? args.splice(0, 2)[1] : undefined;
const [transcriptPath, sessionId] = args;
if (!transcriptPath || !sessionId) {
  process.stderr.write("usage: tap [--redact] [--masks <file>] <transcript.jsonl> <session_id>\n");
  process.exit(2);
}

const HOLD_MS = 100;
/** An unfinished line that ends like a shell prompt (`$ `, `# `, `% `, `> `), colours and modes set after it aside. */
const PROMPT_END = /[$#%>] $/;
const writer = new TranscriptWriter(transcriptPath, sessionId);
const decoder = new StringDecoder("utf8");
const redactor = new Redactor();
// Loaded only when asked for: every session runs a tap, and most declare no secret.
const masker = masksAt ? new (await import("./masks.js")).SecretMasker(masksAt) : undefined;
/** Output goes out line by line (held as above) when it is redacted or masked. */
const byLine = redact || masker !== undefined;
let held = "";
let timer: NodeJS.Timeout | undefined;

/**
 * A recorder that cannot write stops: the server sees it gone, finds the transcript unwritable,
 * and refuses input until it can write again (docs/audit.md). It never drops output silently.
 */
function emit(text: string): void {
  if (!text) return;
  writer.write("recv", { text });
  if (writer.error) stop(writer.error);
}

function stop(err: Error): never {
  process.stderr.write(`ssh-mcp tap: cannot write ${transcriptPath}: ${err.message}\n`);
  process.exit(75);
}

// Who records this pane: the server checks this pid (kill 0) to know the recorder is alive.
writer.write("event", { event: "recorder", pid: process.pid });
if (writer.error) stop(writer.error);

function flushHeld(): void {
  timer = undefined;
  if (held) {
    emit(clean(held, false));
    held = "";
  }
}

/** Lines as they are recorded: redacted (a block of whole lines, or one line), then masked. */
function clean(text: string, block: boolean): string {
  const out = redact ? (block ? redactor.block(text) : redactor.line(text)) : text;
  return masker ? masker.text(out) : out;
}

function onText(text: string): void {
  if (!byLine) return emit(text);
  const all = held + text;
  const cut = all.lastIndexOf("\n") + 1;
  const mark = lastMarkEnd(all, cut);
  const complete = all.slice(0, cut);
  held = all.slice(Math.max(cut, mark));
  emit(complete ? clean(complete, true) : "");
  if (mark > cut) emit(clean(all.slice(cut, mark), false));
  // A long unfinished line is not a secret waiting for its end, nor is a shell prompt (waiting on
  // it would delay every command): let it go now. A token cannot go on past the prompt's space,
  // and a key's value that comes after it is masked all the same (the redactor's open line).
  if (held.length > 4096 || (held.length < 512 && PROMPT_END.test(stripAnsi(held)))) flushHeld();
  if (held && !timer) timer = setTimeout(flushHeld, HOLD_MS);
}

/**
 * Index just past the last ssh-mcp mark at or after `from`, or -1. Not when the line before the
 * mark has a word a secret's key needs: output could otherwise put a mark of its own between a
 * key and its value to have them redacted apart (then the line is held as any other).
 */
function lastMarkEnd(text: string, from: number): number {
  const i = text.lastIndexOf("\x1b]133;");
  if (i < from) return -1;
  const end = text.indexOf("\x07", i);
  // eslint-disable-next-line no-control-regex
  if (end === -1 || !/^\x1b\]133;[CDP];[^\x07]*sshmcp=[0-9a-f]{16}/.test(text.slice(i, end))) return -1;
  return mayHoldSecret(text.slice(from, i)) ? -1 : end + 1;
}

process.stdin.on("data", (chunk: Buffer) => onText(decoder.write(chunk)));
process.stdin.on("end", () => {
  onText(decoder.end());
  if (timer) clearTimeout(timer);
  flushHeld();
  writer.close();
});
// tmux closes the pipe when the pane dies or pipe-pane is turned off; SIGHUP/SIGPIPE must not
// lose the decoder's tail.
process.on("SIGHUP", () => undefined);
