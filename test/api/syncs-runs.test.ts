import { afterEach, describe, expect, it } from 'vitest';
import { createTestApi, seedConfig, syncBody, type TestApi } from './fixtures.ts';

let api: TestApi | undefined;
afterEach(async () => {
  await api?.store.close();
  api = undefined;
});

async function withSync(overrides: Record<string, unknown> = {}) {
  api = await createTestApi();
  const ids = await seedConfig(api);
  const created = await api.call('POST', '/v1/syncs', syncBody(ids, overrides));
  expect(created.status).toBe(201);
  return { t: api, ids, sync: created.body as { id: string; nextRunAt: string | null } };
}

describe('syncs', () => {
  it('creates a sync with defaults and reads it back', async () => {
    const { t, ids, sync } = await withSync();
    expect(sync).toMatchObject({
      name: 'customers to crm',
      modelId: ids.modelId,
      destinationId: ids.destinationId,
      object: 'contacts',
      mode: 'upsert',
      identifier: { from: 'email', to: 'email' },
      mappings: [{ from: 'name', to: 'firstname' }],
      schedule: { type: 'manual' },
      enabled: true,
      pausedReason: null,
      massDelete: { maxShare: 0.2, minCount: 100 },
      nextRunAt: null,
    });
    expect((await t.call('GET', `/v1/syncs/${sync.id}`)).body).toEqual(sync);
    expect((await t.call('GET', '/v1/syncs')).body).toEqual({ data: [sync] });
  });

  it('validates against the model columns and the connector capabilities, reporting every problem', async () => {
    api = await createTestApi();
    const ids = await seedConfig(api);
    const result = await api.call(
      'POST',
      '/v1/syncs',
      syncBody(ids, {
        mode: 'insert',
        identifier: { from: 'mail', to: 'email' },
        mappings: [
          { from: 'name', to: 'firstname' },
          { from: 'nickname', to: 'firstname' },
        ],
      }),
    );
    expect(result).toMatchObject({
      status: 400,
      body: {
        error: {
          code: 'validation_failed',
          message:
            'The sync is not valid: mode: In-memory CRM destinations support upsert, update, mirror, not insert (and 3 more).',
          details: [
            {
              path: 'mode',
              message: 'In-memory CRM destinations support upsert, update, mirror, not insert',
            },
            {
              path: 'mappings.1.to',
              message: 'destination field "firstname" is already mapped by mappings.0',
            },
            {
              path: 'identifier.from',
              message: '"mail" is not a column of the model; its columns are: id, email, name, signed_up',
            },
            {
              path: 'mappings.1.from',
              message: '"nickname" is not a column of the model; its columns are: id, email, name, signed_up',
            },
          ],
        },
      },
    });
    expect(await api.call('POST', '/v1/syncs', syncBody(ids, { identifier: null }))).toMatchObject({
      status: 400,
      body: {
        error: {
          details: [{ path: 'identifier', message: 'In-memory CRM destinations need an identifier mapping' }],
        },
      },
    });
    expect(await api.call('POST', '/v1/syncs', syncBody(ids, { object: 'deals' }))).toMatchObject({
      status: 400,
      body: {
        error: {
          code: 'validation_failed',
          message: 'The sync is not valid: object: In-memory CRM has no object "deals"; it has: contacts.',
          details: [{ path: 'object', message: 'In-memory CRM has no object "deals"; it has: contacts' }],
        },
      },
    });
    expect(await api.call('POST', '/v1/syncs', syncBody(ids, { modelId: 'mdl_missing' }))).toMatchObject({
      status: 400,
      body: { error: { message: 'Model mdl_missing does not exist.', details: [{ path: 'modelId' }] } },
    });
  });

  it('validates schedules: interval of at least 60 s, cron with a real time zone', async () => {
    const t = await createTestApi();
    api = t;
    const ids = await seedConfig(t);
    const post = (schedule: unknown) => t.call('POST', '/v1/syncs', syncBody(ids, { schedule }));
    expect(await post({ type: 'interval', everySeconds: 30 })).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'schedule.everySeconds' }] } },
    });
    expect(await post({ type: 'cron', expression: 'every day', timezone: 'UTC' })).toMatchObject({
      status: 400,
      body: { error: { details: [{ path: 'schedule.expression' }] } },
    });
    expect(await post({ type: 'cron', expression: '0 6 * * *', timezone: 'Mars/Olympus' })).toMatchObject({
      status: 400,
      body: {
        error: {
          details: [
            {
              path: 'schedule.timezone',
              message: '"Mars/Olympus" is not a time zone name such as "UTC" or "Europe/Paris"',
            },
          ],
        },
      },
    });
    const cron = await post({ type: 'cron', expression: '0 6 * * *', timezone: 'Europe/Paris' });
    expect(cron.status).toBe(201);
    const next = new Date((cron.body as { nextRunAt: string }).nextRunAt);
    expect(
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Paris',
        hour: '2-digit',
        minute: '2-digit',
      }).format(next),
    ).toBe('06:00');
  });

  it('clears the paused reason when a paused sync is enabled again', async () => {
    const { t, sync } = await withSync();
    await t.store.execute(`update syncs set paused_reason = 'the endpoint answered 410 Gone' where id = $1`, [
      sync.id,
    ]);
    expect(await t.call('POST', `/v1/syncs/${sync.id}/runs`, {})).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'conflict',
          message: `Sync ${sync.id} is paused: the endpoint answered 410 Gone. Enable it again to run it.`,
        },
      },
    });
    const enabled = await t.call('PATCH', `/v1/syncs/${sync.id}`, { enabled: true });
    expect(enabled).toMatchObject({ status: 200, body: { enabled: true, pausedReason: null } });
    const disabled = await t.call('PATCH', `/v1/syncs/${sync.id}`, {
      enabled: false,
      schedule: { type: 'interval', everySeconds: 300 },
    });
    expect(disabled).toMatchObject({
      status: 200,
      body: { enabled: false, schedule: { type: 'interval', everySeconds: 300 } },
    });
  });
});

describe('runs', () => {
  it('starts a run, refuses a second while it is active, lists, reads and cancels it', async () => {
    const { t, sync } = await withSync();
    const started = await t.call('POST', `/v1/syncs/${sync.id}/runs`, { dryRun: true });
    expect(started).toMatchObject({
      status: 202,
      body: {
        syncId: sync.id,
        status: 'queued',
        trigger: 'api',
        dryRun: true,
        fullResync: false,
        outcomes: { pending: 0, accepted: 0, rejected: 0, invalid: 0, cancelled: 0 },
        error: null,
      },
    });
    const run = started.body as { id: string };
    expect(await t.call('POST', `/v1/syncs/${sync.id}/runs`)).toMatchObject({
      status: 409,
      body: {
        error: {
          code: 'run_already_active',
          message: `Sync ${sync.id} already has an active run (${run.id}).`,
          details: { activeRunId: run.id },
        },
      },
    });
    expect(await t.call('POST', `/v1/syncs/${sync.id}/reset`)).toMatchObject({
      status: 409,
      body: { error: { code: 'run_already_active', details: { activeRunId: run.id } } },
    });
    expect(await t.call('DELETE', `/v1/syncs/${sync.id}`)).toMatchObject({
      status: 409,
      body: { error: { code: 'run_already_active' } },
    });
    expect((await t.call('GET', `/v1/runs/${run.id}`)).body).toEqual(started.body);
    expect(await t.call('POST', `/v1/runs/${run.id}/cancel`)).toMatchObject({
      status: 202,
      body: { id: run.id, status: 'cancelled' },
    });
    expect(await t.call('POST', `/v1/runs/${run.id}/cancel`)).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict', message: `Run ${run.id} has already finished (cancelled).` } },
    });
    expect((await t.call('GET', `/v1/runs/${run.id}`)).body).toMatchObject({
      status: 'cancelled',
      error: { code: 'cancelled', message: 'Cancelled before it started.' },
    });
    expect(await t.call('POST', `/v1/syncs/${sync.id}/reset`)).toMatchObject({
      status: 200,
      body: { syncId: sync.id, forgotten: 0 },
    });
    expect(await t.call('GET', '/v1/runs/run_nothere')).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: 'Run run_nothere does not exist.' } },
    });
  });

  it('pages through run history and run records with cursors', async () => {
    const { t, sync } = await withSync();
    const runIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const started = await t.call('POST', `/v1/syncs/${sync.id}/runs`);
      const id = (started.body as { id: string }).id;
      runIds.push(id);
      await t.store.execute(`update sync_runs set status = 'succeeded', finished_at = now() where id = $1`, [
        id,
      ]);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const pageResult = await t.call('GET', `/v1/syncs/${sync.id}/runs?limit=2${query}`);
      const body = pageResult.body as { data: { id: string }[]; nextCursor: string | null };
      seen.push(...body.data.map((r) => r.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...runIds].reverse());
    expect(await t.call('GET', `/v1/syncs/${sync.id}/runs?cursor=bogus!`)).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'cursor' }] } },
    });

    const runId = runIds[0] ?? '';
    // Records are written while a run is active; its outcomes are then counted from them.
    await t.store.execute(`update sync_runs set status = 'running', finished_at = null where id = $1`, [
      runId,
    ]);
    const statuses = ['accepted', 'rejected', 'accepted', 'invalid', 'accepted'];
    for (const [i, status] of statuses.entries()) {
      await t.store.execute(
        `insert into run_records (run_id, sync_id, pk, operation, status, reason, payload)
         values ($1, $2, $3, 'upsert', $4, $5, $6)`,
        [
          runId,
          sync.id,
          String(i + 1),
          status,
          status === 'rejected' ? 'INVALID_EMAIL' : null,
          { firstname: `n${i}` },
        ],
      );
    }
    const accepted: unknown[] = [];
    cursor = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const result = await t.call('GET', `/v1/runs/${runId}/records?status=accepted&limit=2${query}`);
      const body = result.body as { data: unknown[]; nextCursor: string | null };
      accepted.push(...body.data);
      cursor = body.nextCursor;
    } while (cursor);
    expect(accepted).toMatchObject([
      { primaryKey: '1', status: 'accepted' },
      { primaryKey: '3', status: 'accepted' },
      { primaryKey: '5', status: 'accepted', operation: 'upsert', payload: { firstname: 'n4' } },
    ]);
    expect((await t.call('GET', `/v1/runs/${runId}/records?status=rejected`)).body).toMatchObject({
      data: [{ primaryKey: '2', status: 'rejected', reason: 'INVALID_EMAIL' }],
      nextCursor: null,
    });
    const outcomes = { accepted: 3, rejected: 1, invalid: 1, pending: 0, cancelled: 0 };
    expect((await t.call('GET', `/v1/runs/${runId}`)).body).toMatchObject({ outcomes });
    // A finished run reports the counts it wrote as it finished, without counting its records again.
    await t.store.execute(
      `update sync_runs set status = 'succeeded', finished_at = now(), counts = $2 where id = $1`,
      [runId, JSON.stringify({ ...outcomes, accepted: 30 })],
    );
    expect((await t.call('GET', `/v1/runs/${runId}`)).body).toMatchObject({
      outcomes: { ...outcomes, accepted: 30 },
    });
    expect(await t.call('GET', `/v1/runs/${runId}/records?status=lost`)).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ path: 'status' }] } },
    });
  });
});
