import { describe, expect, it } from 'vitest';
import { copyField, splitCopyLine, unescapeCopy } from '../../src/warehouses/postgres-stream.ts';

describe('COPY text', () => {
  it('reads \\N as NULL and leaves plain fields alone', () => {
    expect(copyField('\\N')).toBeNull();
    expect(copyField('N')).toBe('N');
    expect(copyField('')).toBe('');
    expect(copyField('plain text')).toBe('plain text');
  });

  it('decodes the escapes Postgres writes, and octal, hex and other escaped characters', () => {
    expect(unescapeCopy('a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh')).toBe('a\tb\nc\rd\\e\bf\fg\vh');
    expect(unescapeCopy('\\101\\x42\\x4a\\7')).toBe('ABJ\u0007');
    expect(unescapeCopy('\\N inside')).toBe('N inside');
    expect(copyField('\\\\N')).toBe('\\N');
    expect(unescapeCopy('ends with \\')).toBe('ends with \\');
  });

  it('splits a line into exactly its columns', () => {
    const out: (string | null)[] = [];
    const text = 'x\n1\t\\N\ta\\tb\n';
    splitCopyLine(text, 2, text.length - 1, 3, out);
    expect(out).toEqual(['1', null, 'a\tb']);
    expect(() => splitCopyLine('1\t2\n', 0, 3, 3, [])).toThrow('fewer fields than the 3 columns');
  });
});
