import { Connection } from 'jsforce';
import type { BatchFailure } from '../types.ts';
import { SalesforceTimeoutError } from './classify-error.ts';
import type { SalesforceConfig } from './config.ts';

/**
 * One jsforce connection plus what a run needs around it: request deadlines, a refresh before Bulk
 * jobs, and the org's API usage as Salesforce last reported it.
 */
export class SalesforceSession {
  readonly conn: Connection;
  readonly config: SalesforceConfig;
  /** API calls made since `conn.limitInfo` was last refreshed by a REST response (Bulk 2.0 calls do not refresh it). */
  private unreportedCalls = 0;

  constructor(config: SalesforceConfig) {
    this.config = config;
    const oauth =
      config.refreshToken && config.clientId
        ? {
            oauth2: {
              clientId: config.clientId,
              clientSecret: config.clientSecret,
              ...(config.loginUrl ? { loginUrl: config.loginUrl } : {}),
            },
            refreshToken: config.refreshToken,
          }
        : {};
    // jsforce defaults to API 50.0, below which array upserts fan out into single-record calls.
    this.conn = new Connection({
      instanceUrl: config.instanceUrl,
      accessToken: config.accessToken,
      version: config.apiVersion,
      ...(config.loginUrl ? { loginUrl: config.loginUrl } : {}),
      ...oauth,
    });
  }

  get canRefresh(): boolean {
    return Boolean(this.config.refreshToken && this.config.clientId);
  }

  /** Runs one REST call with a deadline; jsforce's own default is 30 minutes. */
  async call<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SalesforceTimeoutError(`no response within ${this.config.requestTimeoutMs} ms`)),
        this.config.requestTimeoutMs,
      );
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([fn(), deadline]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * jsforce cannot refresh a session in the middle of a Bulk 2.0 upload (it replays a consumed
   * stream), so a job starts on a fresh token. Token requests do not count against API usage.
   */
  async refreshBeforeBulk(): Promise<void> {
    if (!this.canRefresh || !this.conn.refreshToken) return;
    const token = await this.conn.oauth2.refreshToken(this.conn.refreshToken);
    this.conn.accessToken = token.access_token;
    if (token.instance_url) this.conn.instanceUrl = token.instance_url;
  }

  noteBulkCalls(count: number): void {
    this.unreportedCalls += count;
  }

  /**
   * `quota` when `calls` more requests would take the org past the configured daily budget (or past
   * its allocation). Reads the usage first when nothing has reported it yet in this session.
   */
  async checkBudget(calls: number, signal: AbortSignal): Promise<BatchFailure | null> {
    const budget = this.config.dailyApiBudget;
    if (budget === undefined) return null;
    if (!this.conn.limitInfo.apiUsage) {
      await this.call(signal, () => this.conn.request(`/services/data/v${this.config.apiVersion}/limits`));
      this.unreportedCalls = 0;
    }
    const usage = this.conn.limitInfo.apiUsage;
    if (!usage) return null;
    const used = usage.used + this.unreportedCalls;
    const ceiling = Math.min(budget, usage.limit);
    if (used + calls > ceiling) {
      return {
        kind: 'quota',
        reason: `Salesforce API budget reached: ${used} of ${ceiling} daily requests used (org allocation ${usage.limit}); ${calls} more needed`,
      };
    }
    return null;
  }

  /** A REST response just refreshed `conn.limitInfo`, which now includes any Bulk calls made before. */
  noteRestCall(): void {
    this.unreportedCalls = 0;
  }
}
