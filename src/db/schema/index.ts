export * from './api-keys.ts';
export * from './config.ts';
export * from './runs.ts';
