import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** One measurement: a latency (median, p95) or a value, next to its floor and target. */
export interface Row {
  name: string;
  median_ms?: number;
  p95_ms?: number;
  value?: number;
  unit?: string;
  floor?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
  note?: string;
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
export const p95 = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))] ?? NaN;
export const r2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * The report: marks whether each ratio met its target, writes `<runtime dir>/bench/latest.json`
 * and prints the table.
 */
export function report(runtimeDir: string, quick: boolean, rows: Row[]): void {
  for (const r of rows)
    if (r.ratio !== undefined && r.target) r.met = r.ratio <= Number(r.target.replace(/[^\d.]/g, ""));
  const outDir = join(resolve(runtimeDir), "bench");
  mkdirSync(outDir, { recursive: true });
  const result = { at: new Date().toISOString(), quick, rows };
  writeFileSync(join(outDir, "latest.json"), JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(
    `${pad("measurement", 46)}${pad("median/value", 16)}${pad("p95", 10)}${pad("floor", 10)}${pad("ratio", 8)}target\n`,
  );
  for (const r of rows) process.stdout.write(tableLine(r));
  process.stdout.write(`written: ${join(outDir, "latest.json")}\n`);
}

const pad = (s: string, n: number): string => s.padEnd(n);

function tableLine(r: Row): string {
  return `${pad(r.name, 46)}${pad(String(r.median_ms ?? r.value ?? "") + (r.unit ? ` ${r.unit}` : r.median_ms !== undefined ? " ms" : ""), 16)}${pad(String(r.p95_ms ?? ""), 10)}${pad(String(r.floor ?? ""), 10)}${pad(String(r.ratio ?? ""), 8)}${r.target ?? ""}${r.met === undefined ? "" : r.met ? "  met" : "  MISSED"}\n`;
}
