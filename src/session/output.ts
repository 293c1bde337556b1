/**
 * Command output is handled by concern in src/session/output/: markers.ts (the marks around a
 * command's output), clean.ts (terminal bytes to plain text), budget.ts (caps, digests, reply
 * sizes). This module only keeps the names that modules outside session's capture code import
 * (manager, open, bench) pointing at their new homes; new code imports from output/ directly.
 */
export { findBegin, findEnd } from "./output/markers.js";
export { cleanOutput } from "./output/clean.js";
