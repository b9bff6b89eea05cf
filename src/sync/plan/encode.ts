import { hash } from 'node:crypto';
import type { FieldMapping, IdentifierMapping } from '../../db/schema/index.ts';
import { copyValue } from '../../db/store.ts';
import type { TextBatch, TextColumn, WarehouseRow, WarehouseValue } from '../../warehouses/types.ts';
import { canonicalJson, canonicalText, containsUnstorable, isUnstorableText } from './canonical.ts';
import { createSeenKeys } from './seen-keys.ts';

/** Ebb's reasons for not sending a row; shown to users in the per-row log. */
export const invalidReasons = {
  nullPrimaryKey: 'null primary key',
  duplicatePrimaryKey: 'duplicate primary key',
  nullIdentifier: 'null identifier',
  unstorable: 'a value contains a NUL character or an unpaired surrogate, which the state store cannot hold',
} as const;

/** The staging table's columns, in the order `encodeRow` writes them. */
export const stageColumns = ['pk', 'fp', 'ident', 'invalid', 'payload', 'seen'] as const;

export interface RowEncoder {
  /** One COPY text line for the stage, and whether Ebb already knows the row is invalid. */
  encode(row: WarehouseRow): { line: string; invalid: boolean };
  /** The same for row `row` of a text batch: the same line `encode` gives for the parsed values. */
  encodeText(batch: TextBatch, row: number): { line: string; invalid: boolean };
  /** How many rows had a key that may have occurred before (candidate duplicates). */
  readonly candidates: number;
  /** What the encoder remembers between rows, to hand over to an encoder on another thread. */
  state(): EncoderState;
}

/** The duplicate-key filter and its count: all an encoder carries from one row to the next. */
export interface EncoderState {
  bits: Uint32Array;
  candidates: number;
}

export interface EncoderInput {
  primaryKey: string;
  mappings: readonly FieldMapping[];
  identifier: IdentifierMapping | null;
}

function escapeCopy(value: string): string {
  // Most values need no escaping; testing first avoids a replace per value.
  return /[\\\t\n\r]/.test(value) ? copyValue(value) : value;
}

/**
 * The value a text field parses to, built straight from the text where its kind allows (a string is
 * the text itself, an integer that fits a double a Number, a boolean `t`), else by the column's parser.
 */
function textValue(column: TextColumn, text: string): WarehouseValue {
  switch (column.kind) {
    case 'string':
      return text;
    case 'integer':
      return Number(text);
    case 'bigint':
      // Up to 15 characters is below 2^53 in magnitude: the double is exact, and prints the same digits.
      return text.length <= 15 ? Number(text) : BigInt(text);
    case 'boolean':
      return text === 't' || text === 'true';
    default:
      return column.parse(text);
  }
}

/**
 * Canonical JSON of a field given as warehouse text: the same text `canonicalJson` gives for the value
 * the column's parser makes of it, without a Date for a timestamp in UTC.
 */
export function textJson(column: TextColumn, text: string | null): string {
  if (text === null) return 'null';
  const iso = column.kind === 'timestamp' ? isoFromText(text) : undefined;
  return iso === undefined ? canonicalJson(textValue(column, text)) : `"${iso}"`;
}

/**
 * `YYYY-MM-DD HH:MM:SS[.ffffff][+00]` (years 1000-9999, in UTC) as the ISO-8601 text `isoUtc` gives
 * for the Date it parses to: microseconds truncated to milliseconds, as the parser does. Anything else
 * (another offset, BC, infinity, other years) returns undefined for the general path.
 */
export function isoFromText(text: string): string | undefined {
  let end = text.length;
  if (text.endsWith('+00')) end -= 3;
  if (end < 19 || end > 26 || text[4] !== '-' || text[10] !== ' ' || text.charCodeAt(0) === 48)
    return undefined;
  if (end === 19) return `${text.slice(0, 10)}T${text.slice(11, 19)}.000Z`;
  if (text[19] !== '.' || end === 20) return undefined;
  for (let i = 20; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const ms = end >= 23 ? text.slice(20, 23) : text.slice(20, end).padEnd(3, '0');
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
}

/** `canonicalText` of the value a text field parses to (keys and identifiers). */
export function textCanonical(column: TextColumn, text: string | null): string | null {
  if (text === null) return null;
  return (
    (column.kind === 'timestamp' ? isoFromText(text) : undefined) ?? canonicalText(textValue(column, text))
  );
}

/** Where a text batch's columns are, found once per batch shape. */
interface TextLayout {
  columns: readonly TextColumn[];
  fields: number[];
  pk: number;
  identifier: number;
}

/**
 * Maps a model row onto destination fields and fingerprints it. The fingerprint covers only what the
 * destination would receive (the mapped fields and the identifier), so a change in an unmapped column
 * sends nothing and a changed mapping resends exactly the rows whose payload changed.
 * Rows come as values (`encode`) or as warehouse text (`encodeText`); both build the line from each
 * field's canonical JSON, so one row gives one line whichever way it came.
 */
export function createRowEncoder(input: EncoderInput, from?: EncoderState): RowEncoder {
  // Fields in sorted order: the payload text is canonical without sorting per row.
  const fields = [...input.mappings]
    .sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0))
    .map((m) => ({ from: m.from, key: `${JSON.stringify(m.to)}:`, skipNull: m.skipNull === true }));
  const identifier = input.identifier;
  const identifierTag = identifier ? `\n${JSON.stringify(identifier.to)}\n` : '';
  const primaryKey = input.primaryKey;
  const seenKeys = createSeenKeys(from?.bits);
  let candidates = from?.candidates ?? 0;
  const seenColumn = (pk: string | null) => {
    if (pk === null || !seenKeys.add(pk)) return '\\N';
    candidates++;
    return 't';
  };
  /** Each mapped field's canonical JSON for the row being encoded, in `fields` order. */
  const json: string[] = new Array(fields.length);
  let layout: TextLayout | undefined;
  const layoutOf = (columns: readonly TextColumn[]): TextLayout => {
    if (layout?.columns === columns) return layout;
    const index = (name: string) => {
      const at = columns.findIndex((c) => c.name === name);
      // A column the source left out reads as absent, exactly as a value row without it.
      return at;
    };
    layout = {
      columns,
      fields: fields.map((f) => index(f.from)),
      pk: index(primaryKey),
      identifier: identifier ? index(identifier.from) : -1,
    };
    return layout;
  };

  /** The row being encoded, for the rare checks that need its values. */
  let current: { row: WarehouseRow } | { batch: TextBatch; base: number; at: number[] } = { row: {} };
  const fieldValue = (field: number): WarehouseValue | undefined => {
    if ('row' in current) return current.row[(fields[field] as { from: string }).from];
    const column = current.at[field] as number;
    const text = column === -1 ? null : (current.batch.fields[current.base + column] ?? null);
    return text === null ? null : (current.batch.columns[column] as TextColumn).parse(text);
  };

  /** The line for the row whose mapped fields' JSON is in `json`. */
  const line = (pk: string | null, ident: string | null): { line: string; invalid: boolean } => {
    let payload = '{';
    let first = true;
    for (let i = 0; i < fields.length; i++) {
      const value = json[i] as string;
      // Canonical JSON is 'null' exactly for a null (or absent) value.
      if (value === 'null' && (fields[i] as { skipNull: boolean }).skipNull) continue;
      if (!first) payload += ',';
      first = false;
      payload += (fields[i] as { key: string }).key + value;
    }
    payload += '}';

    let invalid: string | null = null;
    if (pk === null) invalid = invalidReasons.nullPrimaryKey;
    else if (identifier && ident === null) invalid = invalidReasons.nullIdentifier;

    // Canonical JSON escapes every control character, so the payload holds no raw tab, newline or
    // carriage return: a backslash is the only byte COPY needs escaped, and most payloads have none.
    const hasBackslash = payload.indexOf('\\') !== -1;
    // JSON.stringify escapes both NUL and lone surrogates as \u…; only then is the exact check worth it.
    const unstorable =
      (hasBackslash && payload.includes('\\u') && fields.some((_, i) => containsUnstorable(fieldValue(i)))) ||
      (pk !== null && isUnstorableText(pk)) ||
      (ident !== null && isUnstorableText(ident));
    if (unstorable) {
      // The key is kept when it can be, so a mirror run never deletes a row that is present.
      const key = pk === null || isUnstorableText(pk) ? null : pk;
      const text = `${key === null ? '\\N' : escapeCopy(key)}\t\\N\t\\N\t${invalidReasons.unstorable}\t\\N\t${seenColumn(key)}\n`;
      return { line: text, invalid: true };
    }

    // 144 bits of SHA-256: collisions are out of reach, and the snapshot's index stays small.
    const fp = hash(
      'sha256',
      identifier ? payload + identifierTag + (ident ?? '') : payload,
      'base64url',
    ).slice(0, 24);
    const text = `${pk === null ? '\\N' : escapeCopy(pk)}\t${fp}\t${ident === null ? '\\N' : escapeCopy(ident)}\t${
      invalid === null ? '\\N' : invalid
    }\t${hasBackslash ? payload.replaceAll('\\', '\\\\') : payload}\t${seenColumn(pk)}\n`;
    return { line: text, invalid: invalid !== null };
  };

  return {
    get candidates() {
      return candidates;
    },
    state: () => ({ bits: seenKeys.bits, candidates }),
    encode(row) {
      for (let i = 0; i < fields.length; i++)
        json[i] = canonicalJson(row[(fields[i] as { from: string }).from]);
      current = { row };
      return line(canonicalText(row[primaryKey]), identifier ? canonicalText(row[identifier.from]) : null);
    },
    encodeText(batch, row) {
      const { columns, fields: at, pk, identifier: identAt } = layoutOf(batch.columns);
      const base = row * columns.length;
      const values = batch.fields;
      for (let i = 0; i < at.length; i++) {
        const column = at[i] as number;
        json[i] =
          column === -1 ? 'null' : textJson(columns[column] as TextColumn, values[base + column] ?? null);
      }
      const ident =
        identAt === -1 ? null : textCanonical(columns[identAt] as TextColumn, values[base + identAt] ?? null);
      current = { batch, base, at };
      return line(
        pk === -1 ? null : textCanonical(columns[pk] as TextColumn, values[base + pk] ?? null),
        ident,
      );
    },
  };
}

/**
 * COPY text is handed on in pieces of about this many characters, not one string per batch: a string
 * over V8's regular object size (128 KiB) is allocated in the old generation, so a thousand 250 KiB
 * batch strings per million rows grew the heap by hundreds of megabytes of garbage between full GCs.
 */
const CHUNK_CHARS = 32 * 1024;

/** Encoded stage lines: COPY text in pieces (see CHUNK_CHARS), and how many rows Ebb knows are invalid. */
export interface EncodedLines {
  chunks: string[];
  invalid: number;
}

function encodeLines(
  count: number,
  encodeRow: (i: number) => { line: string; invalid: boolean },
): EncodedLines {
  const chunks: string[] = [];
  let current = '';
  let invalid = 0;
  for (let i = 0; i < count; i++) {
    const encoded = encodeRow(i);
    current += encoded.line;
    if (encoded.invalid) invalid++;
    if (current.length >= CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
  }
  if (current.length > 0) chunks.push(current);
  return { chunks, invalid };
}

/** One warehouse batch as COPY text for the stage. */
export function encodeBatch(encoder: RowEncoder, rows: readonly WarehouseRow[]): EncodedLines {
  return encodeLines(rows.length, (i) => encoder.encode(rows[i] ?? {}));
}

/** A text batch as COPY text for the stage (the same lines `encodeBatch` gives for its values). */
export function encodeTextBatch(encoder: RowEncoder, batch: TextBatch): EncodedLines {
  return encodeLines(batch.count, (i) => encoder.encodeText(batch, i));
}
