// Marks the bin and the helper entry points executable after tsc (tsc does not keep modes),
// and copies the viewer's static files (its page script and style), which tsc does not emit.
import { chmodSync, cpSync, existsSync } from "node:fs";

cpSync("src/viewer/assets", "dist/viewer/assets", { recursive: true });

for (const file of ["dist/cli.js", "dist/transcript/tap.js", "dist/ssh/askpass.js", "dist/lab/main.js"]) {
  if (existsSync(file)) chmodSync(file, 0o755);
}
