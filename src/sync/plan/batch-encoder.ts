import { Worker } from 'node:worker_threads';
import type { TextBatch, WarehouseRow, WarehouseValue } from '../../warehouses/types.ts';
import {
  createRowEncoder,
  type EncodedLines,
  type EncoderInput,
  encodeBatch,
  encodeTextBatch,
} from './encode.ts';
import type { WorkerReply, WorkerRequest, WorkerStart } from './encode-worker.ts';

/**
 * Encodes warehouse batches into stage COPY text. The first batch is encoded on the calling thread, so
 * a small model never pays for a thread; from the second on, encoding (mapping, canonical JSON,
 * SHA-256, COPY escaping: about half the CPU of planning) moves to a worker thread carrying on from the
 * same duplicate-key filter, while this thread reads the warehouse and writes COPY: two cores instead of
 * one. Results come back in submission order.
 */
export interface BatchEncoder {
  encode(rows: WarehouseRow[]): Promise<EncodedLines>;
  /**
   * Encodes a batch of warehouse text on the calling thread: from text, encoding costs about half of
   * what it does from values, and a load reads either values or text, never both.
   */
  encodeText(batch: TextBatch): Promise<EncodedLines>;
  /** Rows whose key may have occurred before; call after the last batch's result has arrived. */
  candidates(): Promise<number>;
  close(): Promise<void>;
}

interface Waiter {
  resolve: (reply: WorkerReply) => void;
  reject: (error: Error) => void;
}

export function createBatchEncoder(input: EncoderInput, options: { offload: boolean }): BatchEncoder {
  const local = createRowEncoder(input);
  const columns = [
    ...new Set([
      input.primaryKey,
      ...input.mappings.map((m) => m.from),
      ...(input.identifier ? [input.identifier.from] : []),
    ]),
  ];
  const byColumn = (rows: WarehouseRow[]): (WarehouseValue | undefined)[][] =>
    columns.map((name) => {
      const values: (WarehouseValue | undefined)[] = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) values[i] = rows[i]?.[name];
      return values;
    });
  let batches = 0;
  let worker: Worker | undefined;
  let failure: Error | undefined;
  const waiters: Waiter[] = [];

  const failAll = (error: Error) => {
    failure ??= error;
    for (const waiter of waiters.splice(0)) waiter.reject(error);
  };

  const start = (): Worker => {
    const state = local.state();
    // Only the mapping crosses to the thread; the caller's object may hold things that cannot be cloned.
    const { primaryKey, mappings, identifier } = input;
    const begin: WorkerStart = { input: { primaryKey, mappings, identifier }, state, columns };
    const created = new Worker(new URL('./encode-worker.ts', import.meta.url), {
      workerData: begin,
      // The filter's 8 MiB move to the worker rather than being copied; this thread no longer uses it.
      transferList: [state.bits.buffer as ArrayBuffer],
    });
    created.on('message', (reply: WorkerReply) => {
      const waiter = waiters.shift();
      if (!waiter) return;
      if (reply.type === 'failed') waiter.reject(new Error(`encoding failed: ${reply.message}`));
      else waiter.resolve(reply);
    });
    created.on('error', (error) => failAll(error));
    created.on('exit', (code) => failAll(new Error(`the encoding thread exited with code ${code}`)));
    return created;
  };

  const ask = (request: WorkerRequest): Promise<WorkerReply> => {
    if (failure) return Promise.reject(failure);
    worker ??= start();
    try {
      worker.postMessage(request);
    } catch (error) {
      // Nothing was sent (a value that cannot be cloned), so the replies stay in step with the requests.
      const message = error instanceof Error ? error.message : String(error);
      return Promise.reject(new Error(`a row cannot be passed to the encoding thread: ${message}`));
    }
    return new Promise<WorkerReply>((resolve, reject) => waiters.push({ resolve, reject }));
  };

  return {
    async encode(rows) {
      batches++;
      if (!options.offload || (batches === 1 && worker === undefined)) return encodeBatch(local, rows);
      const reply = await ask({ type: 'batch', columns: byColumn(rows), count: rows.length });
      if (reply.type !== 'encoded') throw new Error(`the encoding thread answered ${reply.type} to a batch`);
      return { chunks: reply.chunks, invalid: reply.invalid };
    },
    async encodeText(batch) {
      if (worker !== undefined) throw new Error('a load that encodes values on a thread cannot encode text');
      return encodeTextBatch(local, batch);
    },
    async candidates() {
      if (worker === undefined) return local.candidates;
      const reply = await ask({ type: 'candidates' });
      if (reply.type !== 'candidates')
        throw new Error(`the encoding thread answered ${reply.type} to a count`);
      return reply.candidates;
    },
    async close() {
      const open = worker;
      worker = undefined;
      failure ??= new Error('the batch encoder is closed');
      if (open) {
        open.removeAllListeners();
        await open.terminate();
      }
      for (const waiter of waiters.splice(0)) waiter.reject(failure);
    },
  };
}
