import { createRequire } from 'node:module';

/**
 * drizzle-orm, loaded through `require` rather than `import`. Its package.json carries an exports map
 * of about 180 KB, and Node 24's ESM resolver deserialises it again for every one of the package's
 * internal imports: importing drizzle-orm/pg-core as ESM leaves ~150 MB of garbage and raises a
 * process's resident memory from ~40 MB to ~240 MB before any work (measured; `require` of the same
 * modules: ~70 MB). Every process of Ebb pays that at start-up, and it showed as most of the engine's
 * peak memory. All runtime uses of drizzle go through this module, so there is one instance of it.
 * drizzle-kit loads the schema as CommonJS, where `require` already exists.
 */
const load: NodeJS.Require = typeof require === 'function' ? require : createRequire(import.meta.url);

export const orm = load('drizzle-orm') as typeof import('drizzle-orm');
export const pgCore = load('drizzle-orm/pg-core') as typeof import('drizzle-orm/pg-core');
export const nodePostgres = load('drizzle-orm/node-postgres') as typeof import('drizzle-orm/node-postgres');
export const nodePostgresMigrator = load(
  'drizzle-orm/node-postgres/migrator',
) as typeof import('drizzle-orm/node-postgres/migrator');
export const pglite = load('drizzle-orm/pglite') as typeof import('drizzle-orm/pglite');
export const pgliteMigrator = load(
  'drizzle-orm/pglite/migrator',
) as typeof import('drizzle-orm/pglite/migrator');
