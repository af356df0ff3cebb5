// End-to-end tests: the real server binary + Debian's Chromium driven by playwright-core.
// Run from frontend/: `SWITCHBOARD_BIN=../target/debug/switchboard npm run e2e`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    // One file at a time (each starts its own server and browser; the machine is small), and
    // the tests of a file in order: they share one server and two logged-in panels.
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false, shuffle: false },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // A failed e2e test is a finding: never retried into green.
    retry: 0,
    reporters: ['verbose'],
  },
});
