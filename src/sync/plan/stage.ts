import { hash, randomBytes } from 'node:crypto';
import type { Queryable, Store } from '../../db/store.ts';
import { ident } from '../../db/store.ts';
import type { StreamOptions, Warehouse } from '../../warehouses/types.ts';
import type { BatchEncoder } from './batch-encoder.ts';
import { type EncodedLines, stageColumns } from './encode.ts';

/** Warehouse batches submitted for encoding and not yet written: memory holds at most these. */
const MAX_ENCODING = 2;

/**
 * The staging tables of one planning attempt: `stage` holds every model row as (pk, fingerprint,
 * identifier, invalid reason, payload text, candidate-duplicate flag), `dups` the keys that occur more
 * than once. UNLOGGED: a resumed run rebuilds them from the model, so they need no write-ahead log.
 */
export interface StageTables {
  /** The prefix every attempt of this run shares, so a later attempt can drop what earlier ones left. */
  prefix: string;
  stage: string;
  dups: string;
}

/**
 * Names for a new attempt. The run id is hashed (any id gives a safe name under Postgres's 63-byte
 * limit); the random part keeps a stale attempt (a worker that lost its lease) from writing into the
 * new attempt's stage: its own table is dropped under it and it fails instead.
 */
export function stageTables(runId: string): StageTables {
  const prefix = `ebb_stage_${hash('sha256', runId, 'hex').slice(0, 24)}_`;
  const stage = `${prefix}${randomBytes(4).toString('hex')}`;
  const dups = `${stage}_dups`;
  // Validated once here; the names are lowercase and safe to write into SQL unquoted.
  ident(stage);
  ident(dups);
  return { prefix, stage, dups };
}

export async function dropStage(db: Queryable, tables: StageTables): Promise<void> {
  await db.execute(`drop table if exists ${tables.stage}`);
  await db.execute(`drop table if exists ${tables.dups}`);
}

/** Drops every staging table an earlier attempt of the run left behind (it crashed mid-plan). */
export async function dropLeftovers(db: Queryable, prefix: string): Promise<void> {
  const left = await db.query<{ name: string }>(
    `select tablename as name from pg_tables where schemaname = current_schema() and left(tablename, $2) = $1`,
    [prefix, prefix.length],
  );
  for (const { name } of left) await db.execute(`drop table if exists ${ident(name)}`);
}

export async function createStage(db: Queryable, tables: StageTables): Promise<void> {
  await dropLeftovers(db, tables.prefix);
  await db.execute(
    `create unlogged table ${tables.stage} (pk text, fp text, ident text, invalid text, payload text, seen boolean)`,
  );
  // The planner needs the row count and that keys are (nearly) unique; a 3,000-row sample tells it both
  // at a tenth of the default sampling cost.
  await db.execute(`alter table ${tables.stage} alter column pk set statistics 10`);
}

export interface LoadInput {
  sql: string;
  warehouse: Warehouse;
  batchSize: number;
  statementTimeoutMs: number;
  signal: AbortSignal;
  onProgress?: (p: { rowsRead: number }) => void;
}

/**
 * Streams the model into the stage with COPY, one warehouse batch at a time, so memory holds one batch
 * whatever the model's size. Returns the rows read and how many Ebb already knows are invalid.
 */
export async function loadStage(
  store: Store,
  tables: StageTables,
  encoder: BatchEncoder,
  input: LoadInput,
): Promise<{ rows: number; invalid: number; candidates: number }> {
  let rows = 0;
  let invalid = 0;
  let failure: { error: unknown } | undefined;
  async function* chunks(): AsyncGenerator<string> {
    // A failing source ends the COPY cleanly and is rethrown after it: a COPY aborted half-way would
    // leave the state store's connection in copy mode.
    const inFlight: Promise<EncodedLines>[] = [];
    try {
      // The encoding thread works on batch k while this thread reads batch k+1 and writes batch k-1:
      // overlap enough for both cores, and still only one batch read ahead of what COPY has taken.
      const options = {
        batchSize: input.batchSize,
        signal: input.signal,
        statementTimeoutMs: input.statementTimeoutMs,
      };
      const take = async () => {
        const encoded = await (inFlight.shift() as Promise<EncodedLines>);
        invalid += encoded.invalid;
        return encoded.chunks;
      };
      for await (const [count, encoding] of encodings(input.warehouse, input.sql, options, encoder)) {
        // Rejections are observed by `take`, or dropped with the whole load when it fails first.
        encoding.catch(() => undefined);
        input.signal.throwIfAborted();
        inFlight.push(encoding);
        rows += count;
        input.onProgress?.({ rowsRead: rows });
        if (inFlight.length >= MAX_ENCODING) yield* await take();
      }
      while (inFlight.length > 0) yield* await take();
    } catch (error) {
      failure = { error };
    }
  }
  await store.copyIn(tables.stage, stageColumns, chunks());
  if (failure) throw failure.error;
  return { rows, invalid, candidates: await encoder.candidates() };
}

/**
 * The model's batches, each with its row count and its encoding under way: from the warehouse's text
 * when it can send it (cheaper to read and to canonicalise), else from its values.
 */
async function* encodings(
  warehouse: Warehouse,
  sql: string,
  options: StreamOptions,
  encoder: BatchEncoder,
): AsyncGenerator<[number, Promise<EncodedLines>]> {
  const text = (await warehouse.streamText?.(sql, options)) ?? null;
  if (text) {
    for await (const batch of text) yield [batch.count, encoder.encodeText(batch)];
    return;
  }
  for await (const batch of warehouse.stream(sql, options)) yield [batch.length, encoder.encode(batch)];
}

/**
 * Finds duplicated keys among the candidates the Bloom filter flagged (`seen`); with none flagged there
 * is certainly no duplicate and the stage is not scanned again. Returns whether any key occurs twice.
 */
export async function findDuplicates(
  db: Queryable,
  tables: StageTables,
  candidates: number,
): Promise<boolean> {
  // Without statistics the planner guesses the stage is tiny and picks nested loops over the snapshot's
  // index; sampling the key column alone is enough for it to choose hash joins.
  await db.execute(`analyze ${tables.stage} (pk)`);
  if (candidates === 0) {
    await db.execute(`create unlogged table ${tables.dups} (pk text)`);
    return false;
  }
  await db.execute(
    `create unlogged table ${tables.dups} as
       select pk from ${tables.stage}
       where pk in (select pk from ${tables.stage} where seen)
       group by pk having count(*) > 1`,
  );
  const [row] = await db.query<{ found: boolean }>(`select exists (select 1 from ${tables.dups}) as found`);
  return row?.found === true;
}
