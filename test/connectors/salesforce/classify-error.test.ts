import { describe, expect, it } from 'vitest';
import { classifyError, SalesforceTimeoutError } from '../../../connectors/salesforce/classify-error.ts';
import { toCsv } from '../../../connectors/salesforce/csv.ts';

/** The shape jsforce's HttpApiError has at runtime: name and errorCode are the vendor's code. */
function apiError(errorCode: string, message: string): Error {
  const error = new Error(message) as Error & { errorCode: string };
  error.name = errorCode;
  error.errorCode = errorCode;
  return error;
}

function networkError(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('classifyError', () => {
  it.each([
    [apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'), 'quota'],
    [apiError('REQUEST_LIMIT_EXCEEDED', 'ConcurrentPerOrgLongTxn Limit exceeded.'), 'retry'],
    [apiError('INVALID_SESSION_ID', 'Session expired or invalid'), 'fatal'],
    [new Error('Unable to refresh session due to: expired access/refresh token'), 'fatal'],
    [apiError('invalid_grant', 'expired access/refresh token'), 'fatal'],
    [apiError('INVALID_FIELD', "No such column 'Foo__c' on sobject of type Contact"), 'fatal'],
    [apiError('INVALID_TYPE', "sObject type 'Nope' is not supported."), 'fatal'],
    [apiError('JSON_PARSER_ERROR', 'Unexpected character'), 'split'],
    [apiError('EXCEEDED_ID_LIMIT', 'cannot submit more than 200 records'), 'split'],
    [apiError('ERROR_HTTP_400', '<html>bad request</html>'), 'split'],
    [apiError('SERVER_UNAVAILABLE', 'Server temporarily unavailable'), 'retry'],
    [apiError('ERROR_HTTP_502', 'Bad Gateway'), 'retry'],
    [apiError('ERROR_HTTP_503', ''), 'retry'],
    [apiError('ERROR_HTTP_429', ''), 'retry'],
    [apiError('ERROR_HTTP_401', ''), 'fatal'],
    [networkError('ECONNRESET'), 'retry'],
    [networkError('ECONNREFUSED'), 'retry'],
    [new SalesforceTimeoutError('no response within 2000 ms'), 'retry'],
    [new Error('Request Timeout'), 'retry'],
    [Object.assign(new Error('Polling timed out after 30000ms'), { name: 'JobPollingTimeout' }), 'retry'],
    [new Error('Ingest job failed to complete due to: InvalidBatch : Field name not found : Foo'), 'split'],
    ['a string thrown by mistake', 'retry'],
  ])('%s → %s', (error, kind) => {
    expect(classifyError(error).kind).toBe(kind);
  });

  it('keeps the vendor code and message in the reason', () => {
    expect(classifyError(apiError('REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.'))).toEqual({
      kind: 'quota',
      reason: 'REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.',
    });
    expect(classifyError(networkError('ECONNRESET'))).toEqual({
      kind: 'retry',
      reason: 'ECONNRESET: fetch failed',
    });
  });
});

describe('Bulk CSV', () => {
  it('clears null fields with #N/A, leaves absent ones empty and quotes what needs it', () => {
    const csv = toCsv(
      ['Ext_Id__c', 'Name', 'Industry', 'Website'],
      [
        { Ext_Id__c: 'a1', Name: 'Acme, "Inc"', Industry: null },
        { Ext_Id__c: 'a2', Name: 'Line\nbreak', Website: true },
      ],
    );
    expect(csv).toBe('Ext_Id__c,Name,Industry,Website\na1,"Acme, ""Inc""",#N/A,\na2,"Line\nbreak",,true\n');
  });
});
