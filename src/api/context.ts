import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../config.ts';
import type { Store } from '../db/client.ts';
import type { Logger } from '../logger.ts';

/** What the API needs from the rest of Ebb, passed in so tests can build an app over any store. */
export interface AppDeps {
  store: Store;
  logger: Logger;
  config: Pick<Config, 'maxBodyBytes'> & Partial<Config>;
  version: string;
}

export interface AppEnv {
  Variables: {
    deps: AppDeps;
  };
}

export type App = OpenAPIHono<AppEnv>;
