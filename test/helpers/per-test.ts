import { afterEach, beforeEach } from 'vitest';
import { createTestStore, type TestStore } from './store.ts';

/** What a test opened and must let go of when it ends, pass or fail. */
export interface TestCleanup {
  /** Runs `cleanup` after the test, before anything registered earlier (last opened, first closed). */
  defer(cleanup: () => Promise<void> | void): void;
  /** Closes `resource` after the test, in the same order as `defer`; returns it. */
  own<T extends { close?(): Promise<void> | void }>(resource: T): T;
}

export interface TestScope extends TestCleanup {
  /** The running test's own store (see createTestStore); read it inside a test or hook. */
  readonly store: TestStore;
}

/** Registers an afterEach that closes, newest first, whatever the file's tests opened. */
export function cleanupPerTest(): TestCleanup {
  const { cleanup, runAll } = cleanupList();
  afterEach(runAll);
  return cleanup;
}

/**
 * Gives each test of the file its own store, closed after the test once everything the test owned
 * is closed: a harness's limiters and a worker use the store until they stop.
 */
export function storePerTest(): TestScope {
  const { cleanup, runAll } = cleanupList();
  let store: TestStore | undefined;
  beforeEach(async () => {
    store = await createTestStore();
  });
  afterEach(async () => {
    await runAll();
    await store?.close();
    store = undefined;
  });
  return {
    ...cleanup,
    get store() {
      if (!store) throw new Error('the store belongs to a test: read it inside a test or hook');
      return store;
    },
  };
}

function cleanupList(): { cleanup: TestCleanup; runAll(): Promise<void> } {
  const cleanups: (() => Promise<void> | void)[] = [];
  return {
    cleanup: {
      defer(cleanup) {
        cleanups.push(cleanup);
      },
      own(resource) {
        cleanups.push(() => resource.close?.());
        return resource;
      },
    },
    async runAll() {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    },
  };
}
