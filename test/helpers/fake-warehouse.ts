import type { ColumnInfo, StreamOptions, Warehouse, WarehouseRow } from '../../src/warehouses/types.ts';
import { WarehouseError } from '../../src/warehouses/types.ts';

export interface FakeWarehouseOptions {
  columns: readonly string[];
  /** The model's rows; a function is called once per stream, so rows can be generated lazily. */
  rows: readonly WarehouseRow[] | (() => Iterable<WarehouseRow>);
  /** Throw a WarehouseError with this message after this many rows. */
  failAfter?: { rows: number; message: string };
  /** Called as each batch is handed out, with its index (0-based). */
  onBatch?: (index: number) => void;
}

export interface FakeWarehouse extends Warehouse {
  /** Batches handed out by all streams so far. */
  readonly batches: number;
  /** The largest batch handed out. */
  readonly largestBatch: number;
}

/** An in-memory Warehouse for engine tests: yields its rows in batches, like a cursor. */
export function createFakeWarehouse(options: FakeWarehouseOptions): FakeWarehouse {
  let batches = 0;
  let largestBatch = 0;
  const columns = (): ColumnInfo[] => options.columns.map((name) => ({ name, type: 'text' }));
  const source = () => (typeof options.rows === 'function' ? options.rows() : options.rows);
  return {
    get batches() {
      return batches;
    },
    get largestBatch() {
      return largestBatch;
    },
    async test() {
      return { ok: true };
    },
    async columns() {
      return columns();
    },
    async preview(_sql: string, limit: number) {
      const rows: WarehouseRow[] = [];
      for (const row of source()) {
        if (rows.length >= limit) break;
        rows.push(row);
      }
      return { columns: columns(), rows };
    },
    async *stream(_sql: string, streamOptions: StreamOptions) {
      let batch: WarehouseRow[] = [];
      let read = 0;
      const handOut = () => {
        options.onBatch?.(batches);
        batches++;
        largestBatch = Math.max(largestBatch, batch.length);
        const out = batch;
        batch = [];
        return out;
      };
      for (const row of source()) {
        streamOptions.signal?.throwIfAborted();
        if (options.failAfter && read >= options.failAfter.rows) {
          throw new WarehouseError(options.failAfter.message);
        }
        batch.push(row);
        read++;
        if (batch.length >= streamOptions.batchSize) yield handOut();
      }
      if (batch.length > 0) yield handOut();
    },
    async close() {},
  };
}
