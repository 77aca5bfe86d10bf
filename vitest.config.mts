import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Every test file runs in its own process: the Pulumi runtime keeps global state.
    pool: "forks",
    // Files run one after another: the plan is timed and lab tests start real servers.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
