import { connectors } from '../../connectors/index.ts';
import { createApp } from '../api/app.ts';
import { ensureAdminKey } from '../auth/keys.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { openRuntime, type Runtime } from '../runtime.ts';
import { startScheduler } from '../scheduler/scheduler.ts';
import { version } from '../version.ts';
import { warehouseDrivers } from '../warehouses/index.ts';
import { createEngineDeps } from '../worker/engine-deps.ts';
import { startWorker } from '../worker/worker.ts';
import { listen } from './http-server.ts';

export type Role = 'api' | 'worker' | 'scheduler';

/** A running part of the process; `stop` stops taking new work and releases what it holds. */
export interface Service {
  name: string;
  stop(): Promise<void>;
}

/**
 * Someone must be able to call the API on a fresh install: EBB_ADMIN_KEY is made an admin key, or, with
 * no key at all, one is generated and printed once to stderr (never to the log, which may be shipped).
 */
async function bootstrapAdminKey(runtime: Runtime): Promise<void> {
  const result = await ensureAdminKey(runtime.store, runtime.config.adminKey);
  if (result.kind === 'configured' && result.created)
    runtime.logger.info('EBB_ADMIN_KEY registered as an admin API key');
  if (result.kind === 'configured' && result.revoked) {
    runtime.logger.warn(
      'EBB_ADMIN_KEY was revoked through the API and stays revoked; set a new one to use it',
    );
  }
  if (result.kind === 'generated') {
    process.stderr.write(
      `\n  Ebb created the first admin API key. It is shown only this once; store it now:\n\n    ${result.secret}\n\n` +
        `  Use it as "Authorization: Bearer <key>". Set EBB_ADMIN_KEY to choose the key yourself.\n\n`,
    );
    runtime.logger.warn(
      { keyId: result.key.id, prefix: result.key.prefix },
      'created the first admin API key (printed to stderr once)',
    );
  }
}

async function startApi(runtime: Runtime): Promise<Service> {
  const app = createApp({ ...runtime, version, warehouses: warehouseDrivers, connectors });
  // Bind first: a start that fails (port taken) must not have created and printed a key nobody keeps.
  const server = await listen(app.fetch, runtime.config.port, runtime.config.host);
  try {
    await bootstrapAdminKey(runtime);
  } catch (error) {
    await server.close();
    throw error;
  }
  runtime.logger.info(
    { url: `http://${runtime.config.host}:${server.port}` },
    'API listening (docs at /docs)',
  );
  return { name: 'api', stop: () => server.close() };
}

async function startWorkerRole(runtime: Runtime): Promise<Service> {
  const engine = createEngineDeps(runtime, { connectors, warehouses: warehouseDrivers });
  const worker = startWorker({ ...engine, ...runtime.config.worker });
  runtime.logger.info({ workerId: worker.id, ...runtime.config.worker }, 'worker started');
  return {
    name: 'worker',
    // Stops claiming, lets in-flight batches record and hands unfinished runs back to the queue.
    async stop() {
      await worker.stop();
      await engine.limiters.close();
    },
  };
}

/** Safe in every process: each due time is enqueued once however many schedulers run (see scheduler.ts). */
async function startSchedulerRole(runtime: Runtime): Promise<Service> {
  if (!runtime.config.schedulerEnabled) {
    runtime.logger.info('scheduler off (EBB_SCHEDULER=false)');
    return { name: 'scheduler', stop: async () => {} };
  }
  const scheduler = startScheduler({
    store: runtime.store,
    logger: runtime.logger,
    pollIntervalMs: Math.max(runtime.config.worker.pollIntervalMs, 1000),
  });
  return { name: 'scheduler', stop: () => scheduler.stop() };
}

const starters: Record<Role, (runtime: Runtime) => Promise<Service>> = {
  api: startApi,
  worker: startWorkerRole,
  scheduler: startSchedulerRole,
};

/**
 * Runs the given roles until SIGINT or SIGTERM, then stops them in reverse order (the worker stops
 * claiming and releases its lease) and closes the store. With no roles it only migrates.
 */
export async function runRoles(config: Config, logger: Logger, roles: Role[]): Promise<number> {
  const runtime = await openRuntime(config, logger);
  const services: Service[] = [];
  const stopAll = async () => {
    for (const service of services.reverse()) {
      await service
        .stop()
        .catch((error: unknown) => logger.error({ err: error, service: service.name }, 'stop failed'));
    }
    await runtime.store.close();
  };
  try {
    for (const role of roles) services.push(await starters[role](runtime));
  } catch (error) {
    await stopAll();
    throw error;
  }
  if (roles.length === 0) {
    await runtime.store.close();
    return 0;
  }
  logger.info({ roles, version }, 'ebb started');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal, exiting now');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      stopAll().then(
        () => resolve(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
