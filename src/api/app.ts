import { OpenAPIHono } from '@hono/zod-openapi';
import { Scalar } from '@scalar/hono-api-reference';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requireApiKey } from './auth.ts';
import type { AppDeps, AppEnv } from './context.ts';
import { ApiError, describeIssues, errorBody, statusOf } from './errors.ts';
import { registerApiKeys } from './routes/api-keys.ts';
import { registerDestinations } from './routes/destinations.ts';
import { registerHealth } from './routes/health.ts';
import { registerModels } from './routes/models.ts';
import { registerRuns } from './routes/runs.ts';
import { registerSources } from './routes/sources.ts';
import { registerSyncs } from './routes/syncs.ts';

/** Route modules register themselves here; each adds its paths and their schemas to /openapi.json. */
const registrations: ((app: OpenAPIHono<AppEnv>) => void)[] = [
  registerHealth,
  registerSources,
  registerModels,
  registerDestinations,
  registerSyncs,
  registerRuns,
  registerApiKeys,
];

export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    // Request validation failures all answer one shape, naming each bad field.
    defaultHook: (result, c) => {
      if (!result.success) {
        return c.json(
          errorBody('validation_failed', 'The request is not valid.', describeIssues(result.error.issues)),
          400,
        );
      }
    },
  });

  app.use('*', async (c, next) => {
    c.set('deps', deps);
    await next();
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.maxBodyBytes,
      onError: (c) =>
        c.json(
          errorBody(
            'payload_too_large',
            `The request body is larger than ${deps.config.maxBodyBytes} bytes.`,
          ),
          413,
        ),
    }),
  );

  app.use('/v1/*', requireApiKey);
  for (const register of registrations) register(app);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Ebb',
      version: deps.version,
      description: 'Reverse ETL: configure sources, models, destinations and syncs, and run them.',
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Ebb API' }));

  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}.`), 404));
  app.onError((error, c) => {
    if (error instanceof ApiError) {
      return c.json(errorBody(error.code, error.message, error.details), statusOf(error.code));
    }
    // Hono raises this for a body that is not JSON when a route expects JSON.
    if (error instanceof HTTPException && error.status === 400) {
      return c.json(errorBody('invalid_json', `The request body is not valid JSON: ${error.message}`), 400);
    }
    if (error instanceof HTTPException && error.status === 415) {
      return c.json(
        errorBody(
          'unsupported_media_type',
          'The request body must be JSON (Content-Type: application/json).',
        ),
        415,
      );
    }
    deps.logger.error({ err: error, method: c.req.method, path: c.req.path }, 'unhandled error in API');
    return c.json(errorBody('internal_error', 'Ebb hit an unexpected error; it has been logged.'), 500);
  });
  return app;
}
