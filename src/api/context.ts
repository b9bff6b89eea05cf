import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Connector } from '../../connectors/types.ts';
import type { ApiPrincipal } from '../auth/keys.ts';
import type { Config } from '../config.ts';
import type { Store } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { SecretBox } from '../secrets/box.ts';
import type { WarehouseDriver } from '../warehouses/types.ts';

/** What the API needs from the rest of Ebb, passed in so tests can build an app over any store. */
export interface AppDeps {
  store: Store;
  logger: Logger;
  config: Pick<Config, 'maxBodyBytes'> & Partial<Config>;
  version: string;
  /** Seals source and destination secrets at rest (invariant 8). */
  secrets: SecretBox;
  /** Source kinds by name; injected so tests can use an in-process warehouse. */
  warehouses: Readonly<Record<string, WarehouseDriver>>;
  /** Destination kinds by name; injected so tests can use an in-process connector. */
  connectors: Readonly<Record<string, Connector>>;
}

export interface AppEnv {
  Variables: {
    deps: AppDeps;
    /** The API key that authenticated this request (every /v1 route). */
    principal: ApiPrincipal;
  };
}

export type App = OpenAPIHono<AppEnv>;
