/**
 * `ssh-mcp bench [--quick] [--sessions N]`: prints a table and writes
 * `<runtime dir>/bench/latest.json`. The bench itself is in src/bench/ (run.ts: the orchestrator;
 * scenarios.ts: one function per measurement; floors.ts; report.ts).
 */
export { runBench } from "../bench/run.js";
