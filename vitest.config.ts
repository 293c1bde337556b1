import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests each start an sshd and a tmux server; two cores fit two files at once.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
