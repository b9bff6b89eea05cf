import { createRoute, z } from '@hono/zod-openapi';
import type { App } from '../context.ts';

const healthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    store: z.object({
      kind: z.enum(['postgres', 'pglite']),
      reachable: z.boolean(),
      error: z.string().optional(),
    }),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  tags: ['system'],
  summary: 'Liveness and state-store reachability',
  responses: {
    200: {
      description: 'Ebb is up and its state store answers',
      content: { 'application/json': { schema: healthSchema } },
    },
    503: {
      description: 'The state store does not answer',
      content: { 'application/json': { schema: healthSchema } },
    },
  },
});

export function registerHealth(app: App) {
  app.openapi(route, async (c) => {
    const { store, version } = c.get('deps');
    try {
      await store.query('select 1');
      return c.json({ status: 'ok' as const, version, store: { kind: store.kind, reachable: true } }, 200);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return c.json(
        {
          status: 'degraded' as const,
          version,
          store: { kind: store.kind, reachable: false, error: message },
        },
        503,
      );
    }
  });
}
