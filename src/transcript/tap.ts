#!/usr/bin/env node
/**
 * The tap: tmux `pipe-pane -O` runs it with the pane's raw output on stdin. It appends one
 * `recv` event per chunk to the transcript and keeps running while the MCP server is down, so
 * no output is ever lost. UTF-8 is decoded with a StringDecoder, which holds back a partial
 * multi-byte character until its remaining bytes arrive.
 */
import { StringDecoder } from "node:string_decoder";
import { TranscriptWriter } from "./writer.js";

const [transcriptPath, sessionId] = process.argv.slice(2);
if (!transcriptPath || !sessionId) {
  process.stderr.write("usage: tap <transcript.jsonl> <session_id>\n");
  process.exit(2);
}

const writer = new TranscriptWriter(transcriptPath, sessionId);
const decoder = new StringDecoder("utf8");

process.stdin.on("data", (chunk: Buffer) => {
  const text = decoder.write(chunk);
  if (text) writer.write("recv", { text });
});
process.stdin.on("end", () => {
  const rest = decoder.end();
  if (rest) writer.write("recv", { text: rest });
  writer.close();
});
// tmux closes the pipe when the pane dies or pipe-pane is turned off; SIGHUP/SIGPIPE must not
// lose the decoder's tail.
process.on("SIGHUP", () => undefined);
