import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'connectors/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/faults/**'],
    globalSetup: ['./test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more forks than that only adds contention to PGlite's single-threaded WASM.
    maxWorkers: 2,
  },
});
