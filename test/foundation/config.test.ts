import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to embedded mode on port 8080', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\.ebb$/);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(8080);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT: must be a port number from 1 to 65535'],
    [{ PORT: '70000' }, 'PORT: must be from 1 to 65535'],
    [{ PORT: '0' }, 'PORT: must be from 1 to 65535'],
    [{ DATABASE_URL: 'mysql://localhost/x' }, 'DATABASE_URL: must be a URL such as postgres://'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL: must be a URL such as postgres://'],
    [{ EBB_SECRET_KEY: 'short' }, 'EBB_SECRET_KEY: must be 32 bytes, base64-encoded'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL: '],
    [{ EBB_WORKER_CONCURRENCY: '-1' }, 'EBB_WORKER_CONCURRENCY: must be a whole number'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL: must be a URL such as redis://'],
  ])('rejects %o with one line naming the variable', (env, expected) => {
    const message = errorOf(env);
    expect(message.startsWith(expected)).toBe(true);
    expect(message).not.toContain('\n');
  });
});
