import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Every test file runs in its own process: the Pulumi runtime keeps global state.
    pool: "forks",
    // Files run one after another: lab tests start real servers and network namespaces.
    fileParallelism: false,
    // Time limits catch hangs, they measure nothing: the machine is shared and may be loaded, so
    // they are generous (speed is measured by `npm run bench`, never asserted in a test).
    testTimeout: 300_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
