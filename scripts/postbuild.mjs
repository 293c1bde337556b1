// Marks the bin and the helper entry points executable after tsc (tsc does not keep modes).
import { chmodSync, existsSync } from "node:fs";

for (const file of ["dist/cli.js", "dist/transcript/tap.js", "dist/ssh/askpass.js", "dist/lab/main.js"]) {
  if (existsSync(file)) chmodSync(file, 0o755);
}
