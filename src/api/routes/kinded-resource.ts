import type { z } from '@hono/zod-openapi';
import { orm } from '../../db/drizzle.ts';
import type { destinations, sources } from '../../db/schema/index.ts';
import { newId } from '../../lib/ids.ts';
import { redactSecrets } from '../../secrets/split.ts';
import type { AppDeps } from '../context.ts';
import { ApiError } from '../errors.ts';
import {
  isUniqueViolation,
  looksLikeId,
  nameTaken,
  nextStoredConfig,
  notFound,
  pgErrorCode,
} from './shared.ts';

const { asc, eq } = orm;

/** Sources and destinations share one table shape: a named config of a kind, secrets sealed apart. */
type KindedTable = typeof sources | typeof destinations;
export type KindedRow = typeof sources.$inferSelect;

interface KindDriver {
  configSchema: z.ZodType<unknown>;
  secretFields: readonly string[];
}

export interface Dependent {
  id: string;
  name: string;
}

export interface KindedResourceSpec {
  table: KindedTable;
  /** Also the noun in messages: "A source named …", "Source src_… does not exist.". */
  idKind: 'source' | 'destination';
  kinds: (deps: AppDeps) => Readonly<Record<string, KindDriver | undefined>>;
  /** The driver of a stored row's kind; refuses a kind this build no longer has. */
  driverFor: (deps: AppDeps, kind: string) => KindDriver;
  /** What refers to the row and so blocks its deletion. */
  dependents: (deps: AppDeps, id: string) => Promise<Dependent[]>;
  /** The 409 for a row in use; `users` is empty when the foreign key refused a dependent added meanwhile. */
  inUse: (what: string, users: Dependent[]) => ApiError;
}

export interface CreateKinded {
  name: string;
  kind: string;
  config: Record<string, unknown>;
}

export interface UpdateKinded {
  name?: string | undefined;
  config?: Record<string, unknown> | undefined;
}

/** The create/list/get/update/delete logic of a kinded, configured resource; routes stay in their files. */
export function kindedResource(spec: KindedResourceSpec) {
  const { table, idKind: noun } = spec;
  const title = `${noun.charAt(0).toUpperCase()}${noun.slice(1)}`;

  function view(deps: AppDeps, row: KindedRow) {
    const secretFields = spec.kinds(deps)[row.kind]?.secretFields ?? [];
    return {
      id: row.id,
      name: row.name,
      kind: row.kind,
      config: redactSecrets(row, secretFields, deps.secrets),
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
    };
  }

  async function load(deps: AppDeps, id: string): Promise<KindedRow> {
    const [row] = looksLikeId(id) ? await deps.store.db.select().from(table).where(eq(table.id, id)) : [];
    if (!row) throw notFound(title, id);
    return row;
  }

  async function create(deps: AppDeps, body: CreateKinded) {
    const kinds = spec.kinds(deps);
    const driver = kinds[body.kind];
    if (!driver) {
      throw new ApiError('validation_failed', `Unknown ${noun} kind "${body.kind}".`, [
        { path: 'kind', message: `must be one of: ${Object.keys(kinds).join(', ') || '(none)'}` },
      ]);
    }
    const stored = nextStoredConfig(deps, driver, body.config);
    try {
      const [row] = await deps.store.db
        .insert(table)
        .values({
          id: newId(noun),
          name: body.name,
          kind: body.kind,
          config: stored.config,
          secrets: stored.secrets,
        })
        .returning();
      if (!row) throw new Error(`inserting a ${noun} returned no row`);
      return view(deps, row);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken(noun, body.name);
      throw error;
    }
  }

  async function list(deps: AppDeps) {
    const rows = await deps.store.db.select().from(table).orderBy(asc(table.name));
    return { data: rows.map((row) => view(deps, row)) };
  }

  async function get(deps: AppDeps, id: string) {
    return view(deps, await load(deps, id));
  }

  async function update(deps: AppDeps, id: string, body: UpdateKinded) {
    const current = await load(deps, id);
    const stored = body.config
      ? nextStoredConfig(deps, spec.driverFor(deps, current.kind), body.config, current)
      : { config: current.config, secrets: current.secrets };
    try {
      const [row] = await deps.store.db
        .update(table)
        .set({
          name: body.name ?? current.name,
          config: stored.config,
          secrets: stored.secrets,
          updatedAt: new Date(),
        })
        .where(eq(table.id, current.id))
        .returning();
      if (!row) throw notFound(title, current.id);
      return view(deps, row);
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken(noun, body.name ?? current.name);
      throw error;
    }
  }

  async function remove(deps: AppDeps, id: string): Promise<void> {
    const current = await load(deps, id);
    const what = `${title} ${current.id}`;
    const users = await spec.dependents(deps, current.id);
    if (users.length > 0) throw spec.inUse(what, users);
    try {
      await deps.store.db.delete(table).where(eq(table.id, current.id));
    } catch (error) {
      // A dependent created between the check and the delete: the foreign key refuses, say so.
      if (pgErrorCode(error) === '23503') throw spec.inUse(what, []);
      throw error;
    }
  }

  return { view, load, create, list, get, update, remove };
}
