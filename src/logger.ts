import { pino } from 'pino';

export type Logger = pino.Logger;

/**
 * Paths that may carry secrets, censored wherever they appear in a log line (invariant 8). Connector
 * and source configs put secrets under `secrets`, API requests under `authorization`.
 */
const secretKeys = [
  'secrets',
  'authorization',
  'password',
  'accessToken',
  'refreshToken',
  'clientSecret',
  'signingSecret',
  'secretHeaders',
  'token',
  'apiKey',
];
const redact = secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export function createLogger(options: { level: string; format: 'pretty' | 'json' }): Logger {
  return pino({
    level: options.level,
    redact: { paths: redact, censor: '[redacted]' },
    transport:
      options.format === 'pretty'
        ? {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          }
        : undefined,
  });
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
