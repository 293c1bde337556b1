#!/usr/bin/env node
// Cost of redaction on secret-free terminal output, the common case on the tap's and
// get_screen's hot path. Usage: node scripts/bench-redact.mjs [path/to/redact.js]
// (default: dist/transcript/redact.js, so run `npm run build` first).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const modPath = resolve(process.argv[2] ?? "dist/transcript/redact.js");
const { Redactor, redactValues } = await import(pathToFileURL(modPath).href);

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const NAMES = [
  "README.md",
  "package.json",
  "node_modules",
  "src",
  "dist",
  "tsconfig.json",
  "index.ts",
  "app.log",
];

/** A deterministic mix of what terminals show: ls -l, ls --color, logs, ps, git log, df. */
function sample(bytes) {
  const lines = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let l;
    switch (i % 7) {
      case 0:
        l = `-rw-r--r-- 1 deploy deploy ${(i * 37) % 99999} ${MONTHS[i % 12]} ${(i % 28) + 1} 12:${String(i % 60).padStart(2, "0")} ${NAMES[i % NAMES.length]}`;
        break;
      case 1:
        l = `\x1b[0m\x1b[01;34m${NAMES[i % NAMES.length]}\x1b[0m  \x1b[01;32mrun.sh\x1b[0m  notes.txt`;
        break;
      case 2:
        l = `2024-05-${String((i % 28) + 1).padStart(2, "0")}T10:${String(i % 60).padStart(2, "0")}:01.123Z INFO  [worker-${i % 8}] request GET /api/v1/items?page=${i % 50} 200 ${i % 900}ms`;
        break;
      case 3:
        l = `root      ${1000 + i}  0.${i % 10}  1.2 123456 ${(i * 13) % 65536} ?        Ss   May01   0:0${i % 10} /usr/sbin/nginx -g daemon on;`;
        break;
      case 4:
        l = `commit ${(i * 2654435761).toString(16).padStart(8, "0").repeat(5).slice(0, 40)}`;
        break;
      case 5:
        l = `Author: Jane Doe <jane@example.com>   Date: Mon May ${(i % 28) + 1} 10:00:00 2024 +0200`;
        break;
      default:
        l = `/dev/sda${i % 4}        98G   ${i % 90}G   ${90 - (i % 90)}G  ${i % 100}% /var/lib/data${i % 3}`;
    }
    lines.push(l + "\r\n");
    size += l.length + 2;
  }
  return lines.join("");
}

const text = sample(1 << 20);
const chunks = [];
for (let i = 0; i < text.length;) {
  // The tap sees reads of up to 64 kB; most are a few kB. Cut at line ends, as the tap does.
  let j = Math.min(text.length, i + 4096);
  j = text.lastIndexOf("\n", j - 1) + 1 || j;
  if (j <= i) j = Math.min(text.length, i + 4096);
  chunks.push(text.slice(i, j));
  i = j;
}

function time(label, fn) {
  for (let w = 0; w < 3; w++) fn();
  const runs = 10;
  const t0 = performance.now();
  for (let r = 0; r < runs; r++) fn();
  const ms = (performance.now() - t0) / runs;
  console.log(`${label}: ${ms.toFixed(2)} ms per MB`);
}

console.log(`module: ${modPath}; ${(text.length / 1024).toFixed(0)} kB, ${text.split("\n").length} lines`);
time("Redactor.block, 4 kB reads", () => {
  const r = new Redactor();
  for (const c of chunks) r.block(c);
});
time("redactValues, whole text", () => redactValues(text));
