import { describe, expect, it } from 'vitest';
import { matchBatchResponse } from '../../../connectors/hubspot/match.ts';
import { toPropertyValue } from '../../../connectors/hubspot/write.ts';

describe('matching a HubSpot batch response to the records sent', () => {
  const sent = [
    { key: 'a', names: ['trace-a', 'a@example.com'] },
    { key: 'b', names: ['trace-b', 'b@example.com'] },
    { key: 'c', names: ['trace-c', 'c@example.com', '301'] },
    { key: 'd', names: ['trace-d', 'd@example.com'] },
  ];

  it('matches by trace id, by idProperty value (emails without case) or by id, never by position', () => {
    const outcomes = matchBatchResponse(
      sent,
      {
        results: [
          { id: '301', properties: {} },
          { id: '202', properties: { email: 'B@Example.com' } },
          { id: '101', objectWriteTraceId: 'trace-a', properties: { email: 'someone-else@example.com' } },
        ],
        errors: [
          {
            message: 'Email address d@example is invalid',
            category: 'VALIDATION_ERROR',
            context: { ids: ['d@example.com'] },
          },
        ],
      },
      'email',
    );
    expect(outcomes).toEqual([
      { key: 'a', status: 'accepted', destinationRecordId: '101' },
      { key: 'b', status: 'accepted', destinationRecordId: '202' },
      { key: 'c', status: 'accepted', destinationRecordId: '301' },
      { key: 'd', status: 'rejected', reason: 'Email address d@example is invalid' },
    ]);
  });

  it('sends again what HubSpot neither confirmed nor named, quoting errors it could not attribute', () => {
    const outcomes = matchBatchResponse(
      sent.slice(0, 2),
      {
        results: [{ id: '1', objectWriteTraceId: 'trace-a' }],
        errors: [{ message: 'Something odd', context: {} }],
      },
      'email',
    );
    expect(outcomes[1]).toEqual({
      key: 'b',
      status: 'retryable',
      reason: 'HubSpot reported errors it did not attribute to a record: Something odd',
    });
  });

  it('puts every value on the wire as a string; null clears the property', () => {
    expect([null, 'x', 42, 1.5, true, false, ['a', 1], { k: 'v' }].map(toPropertyValue)).toEqual([
      '',
      'x',
      '42',
      '1.5',
      'true',
      'false',
      '["a",1]',
      '{"k":"v"}',
    ]);
  });
});
