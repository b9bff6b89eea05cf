import { parentPort, workerData } from 'node:worker_threads';
import type { WarehouseRow, WarehouseValue } from '../../warehouses/types.ts';
import { createRowEncoder, type EncoderInput, type EncoderState, encodeBatch } from './encode.ts';

/**
 * The encoding thread of one planning attempt (see `batch-encoder.ts`): it carries on from the state the
 * planning thread handed over, and answers every message in the order it came.
 */
export interface WorkerStart {
  input: EncoderInput;
  state: EncoderState;
  /** The columns the encoder reads, in the order a batch's `columns` lists their values. */
  columns: string[];
}

/**
 * A batch travels by column, and only the columns the encoder reads: cloning a few arrays costs a
 * fraction of cloning a thousand row objects, on both threads.
 */
export type WorkerRequest =
  | { type: 'batch'; columns: (WarehouseValue | undefined)[][]; count: number }
  | { type: 'candidates' };

export type WorkerReply =
  | { type: 'encoded'; chunks: string[]; invalid: number }
  | { type: 'candidates'; candidates: number }
  | { type: 'failed'; message: string };

const port = parentPort;
if (port) {
  const start = workerData as WorkerStart;
  const encoder = createRowEncoder(start.input, start.state);
  const names = start.columns;
  const toRows = (columns: (WarehouseValue | undefined)[][], count: number): WarehouseRow[] => {
    const rows: WarehouseRow[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const row: WarehouseRow = {};
      for (let c = 0; c < names.length; c++) {
        const value = columns[c]?.[i];
        // A column the source left out stays absent, exactly as in the row the planning thread had.
        if (value !== undefined) row[names[c] as string] = value;
      }
      rows[i] = row;
    }
    return rows;
  };
  port.on('message', (request: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply =
        request.type === 'batch'
          ? { type: 'encoded', ...encodeBatch(encoder, toRows(request.columns, request.count)) }
          : { type: 'candidates', candidates: encoder.candidates };
    } catch (error) {
      reply = { type: 'failed', message: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
}
