import type { TestProject } from 'vitest/node';
import { prepareTemplates } from './templates.ts';

/**
 * Migrates once, up front: a template database on Postgres (when DATABASE_URL is set) and a PGlite data
 * folder tarball otherwise. Each test then gets a fresh copy of it (see store.ts).
 */
export async function setup(project: TestProject) {
  const { cleanup, ...templates } = await prepareTemplates();
  project.provide('ebbTemplates', templates);
  return cleanup;
}

declare module 'vitest' {
  export interface ProvidedContext {
    ebbTemplates: { postgresTemplate?: string; pgliteTarball?: string };
  }
}
