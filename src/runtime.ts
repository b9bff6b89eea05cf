import type { Config } from './config.ts';
import type { Store } from './db/client.ts';
import { openStore } from './db/client.ts';
import type { Logger } from './logger.ts';
import { createSecretBox, loadSecretKey, type SecretBox } from './secrets/box.ts';

/** What every role shares in one process: configuration, logs, the state store and the secret box. */
export interface Runtime {
  config: Config;
  logger: Logger;
  store: Store;
  secrets: SecretBox;
}

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await store.migrate();
    if (applied > 0) logger.info({ applied }, 'applied database migrations');
    const secretKey = await loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir });
    if (secretKey.generated) {
      logger.warn(
        { file: secretKey.file },
        config.databaseUrl
          ? 'generated a secret key in the data folder; set EBB_SECRET_KEY so every machine shares one'
          : 'generated a secret key for encrypting credentials',
      );
    }
    logger.info(
      { store: store.kind, dataDir: store.kind === 'pglite' ? config.dataDir : undefined },
      'state store ready',
    );
    return { config, logger, store, secrets: createSecretBox(secretKey.key) };
  } catch (error) {
    await store.close();
    throw error;
  }
}
