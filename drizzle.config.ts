import { defineConfig } from 'drizzle-kit';

// Migrations are generated from src/db/schema and committed; they are applied by `ebb migrate` and at
// start-up, never pushed (`drizzle-kit push`) against a live database.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './src/db/migrations',
  strict: true,
});
