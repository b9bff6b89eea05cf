import { describe, expect, it } from 'vitest';
import { parseArray, parseBytea, parseTimestamp } from '../../src/warehouses/postgres-values.ts';

describe('postgres text parsers', () => {
  it.each([
    ['2024-01-02 03:04:05', false, '2024-01-02T03:04:05.000Z'],
    ['2024-01-02 03:04:05.678901', false, '2024-01-02T03:04:05.678Z'],
    ['2024-01-02 03:04:05.1+00', true, '2024-01-02T03:04:05.100Z'],
    ['2024-01-02 03:04:05.678+02', true, '2024-01-02T01:04:05.678Z'],
    ['2024-01-02 03:04:05-05:30', true, '2024-01-02T08:34:05.000Z'],
    ['1900-01-01 00:00:00+00:19:32', true, '1899-12-31T23:40:28.000Z'],
    ['0099-01-01 00:00:00', false, '0099-01-01T00:00:00.000Z'],
    ['12345-01-01 00:00:00+00', true, '+012345-01-01T00:00:00.000Z'],
  ])('reads %s (with zone: %s) as %s', (text, withZone, iso) => {
    const value = parseTimestamp(text, withZone);
    expect(value).toBeInstanceOf(Date);
    expect((value as Date).toISOString()).toBe(iso);
  });

  it('keeps timestamps a Date cannot hold as text', () => {
    expect(parseTimestamp('infinity', true)).toBe('infinity');
    expect(parseTimestamp('-infinity', false)).toBe('-infinity');
    expect(parseTimestamp('0044-03-15 12:00:00 BC', false)).toBe('0044-03-15 12:00:00 BC');
  });

  it('reads arrays with quoting, NULLs, nesting and bounds', () => {
    const text = (v: string) => v;
    expect(parseArray('{}', text)).toEqual([]);
    expect(parseArray('{a,NULL,"NULL","x \\"y\\" \\\\ z",""}', text)).toEqual([
      'a',
      null,
      'NULL',
      'x "y" \\ z',
      '',
    ]);
    expect(parseArray('{{1,2},{3,4}}', Number)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(parseArray('[0:1]={7,8}', Number)).toEqual([7, 8]);
    expect(() => parseArray('{1,2', Number)).toThrow('malformed array literal');
  });

  it('reads bytea in hex and escape output formats', () => {
    expect(parseBytea('\\x00ff10')).toEqual(new Uint8Array([0, 255, 16]));
    expect(parseBytea('a\\\\b\\000\\377')).toEqual(new Uint8Array([97, 92, 98, 0, 255]));
  });
});
