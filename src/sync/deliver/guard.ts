import type { Queryable } from '../../db/client.ts';

export interface MassDeleteVerdict {
  deletes: number;
  synced: number;
  /** Set when the run must stop: the message says what it would do and how to allow it. */
  blocked?: string;
}

/**
 * Invariant 7: a mirror run that would remove more than the sync's share of its records AND more than
 * its minimum count stops before sending anything, unless the run explicitly allows it.
 */
export async function checkMassDelete(
  db: Queryable,
  run: { id: string; syncId: string },
  limits: { maxShare: number; minCount: number },
): Promise<MassDeleteVerdict> {
  const [row] = await db.query<{ deletes: number; synced: number }>(
    `select
       (select count(*)::int from run_records
          where run_id = $1 and status = 'pending' and operation = 'delete') as deletes,
       (select count(*)::int from sync_snapshots where sync_id = $2) as synced`,
    [run.id, run.syncId],
  );
  const deletes = Number(row?.deletes ?? 0);
  const synced = Number(row?.synced ?? 0);
  const { maxShare: share, minCount: min } = limits;
  if (deletes <= min || deletes <= share * synced) return { deletes, synced };
  const pct = (n: number) => `${Math.round(n * 1000) / 10}%`;
  return {
    deletes,
    synced,
    blocked:
      `This run would delete ${deletes} of ${synced} synced records (${pct(deletes / Math.max(synced, 1))}), ` +
      `more than the sync allows (${pct(share)} and more than ${min} records). Nothing was sent. ` +
      'If the deletions are intended, start a run with allowMassDelete: true.',
  };
}
