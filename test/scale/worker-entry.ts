import { connectors, defineConnector } from '../../connectors/index.ts';
import type { Connector } from '../../connectors/types.ts';
import type { WebhookConfig } from '../../connectors/webhook/config.ts';
import { webhookConnector } from '../../connectors/webhook/index.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openRuntime } from '../../src/runtime.ts';
import { createLimiterRegistry } from '../../src/sync/deliver/limiters.ts';
import { planRun } from '../../src/sync/plan/index.ts';
import { warehouseDrivers } from '../../src/warehouses/index.ts';
import { startWorker } from '../../src/worker/worker.ts';

/**
 * A worker process like `ebb worker`, except that every webhook it sends names this process in an
 * `x-ebb-worker` header, so a receiver can tell which process delivered what (and so whether two
 * processes ever delivered one sync at the same time). Configured by the same environment variables.
 */

const tagged: Connector = defineConnector({
  ...webhookConnector,
  create: (config: WebhookConfig, deps) =>
    webhookConnector.create(
      { ...config, headers: { ...config.headers, 'x-ebb-worker': String(process.pid) } },
      deps,
    ),
});

const config = loadConfig();
const logger = createLogger(config.log);
const runtime = await openRuntime(config, logger);
const limiters = createLimiterRegistry({ redisUrl: config.redisUrl });
const worker = startWorker({
  store: runtime.store,
  secrets: runtime.secrets,
  logger,
  connectors: { ...connectors, webhook: tagged },
  warehouses: warehouseDrivers,
  limiters,
  planRun,
  config: {
    warehouseStatementTimeoutMs: config.warehouseStatementTimeoutMs,
    allowPrivateNetwork: config.allowPrivateNetwork,
    redisUrl: config.redisUrl,
  },
  ...config.worker,
});

// Tests wait for this line before queueing runs, so every process competes for them.
process.stderr.write(`worker ready ${worker.id}\n`);

process.once('SIGTERM', () => {
  worker
    .stop()
    .then(() => limiters.close())
    .then(() => runtime.store.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
});
