import { hash } from 'node:crypto';
import type { FieldMapping, IdentifierMapping } from '../../db/schema/index.ts';
import { copyValue } from '../../db/store.ts';
import type { WarehouseRow } from '../../warehouses/types.ts';
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
 * Maps a model row onto destination fields and fingerprints it. The fingerprint covers only what the
 * destination would receive (the mapped fields and the identifier), so a change in an unmapped column
 * sends nothing and a changed mapping resends exactly the rows whose payload changed.
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

  return {
    get candidates() {
      return candidates;
    },
    state: () => ({ bits: seenKeys.bits, candidates }),
    encode(row) {
      let payload = '{';
      let first = true;
      for (const field of fields) {
        const value = row[field.from];
        if (field.skipNull && (value === null || value === undefined)) continue;
        if (!first) payload += ',';
        first = false;
        payload += field.key + canonicalJson(value);
      }
      payload += '}';

      const pk = canonicalText(row[primaryKey]);
      const ident = identifier ? canonicalText(row[identifier.from]) : null;
      let invalid: string | null = null;
      if (pk === null) invalid = invalidReasons.nullPrimaryKey;
      else if (identifier && ident === null) invalid = invalidReasons.nullIdentifier;

      // Canonical JSON escapes every control character, so the payload holds no raw tab, newline or
      // carriage return: a backslash is the only byte COPY needs escaped, and most payloads have none.
      const hasBackslash = payload.indexOf('\\') !== -1;
      // JSON.stringify escapes both NUL and lone surrogates as \u…; only then is the exact check worth it.
      const unstorable =
        (hasBackslash && payload.includes('\\u') && fields.some((f) => containsUnstorable(row[f.from]))) ||
        (pk !== null && isUnstorableText(pk)) ||
        (ident !== null && isUnstorableText(ident));
      if (unstorable) {
        // The key is kept when it can be, so a mirror run never deletes a row that is present.
        const key = pk === null || isUnstorableText(pk) ? null : pk;
        const line = `${key === null ? '\\N' : escapeCopy(key)}\t\\N\t\\N\t${invalidReasons.unstorable}\t\\N\t${seenColumn(key)}\n`;
        return { line, invalid: true };
      }

      // 144 bits of SHA-256: collisions are out of reach, and the snapshot's index stays small.
      const fp = hash(
        'sha256',
        identifier ? payload + identifierTag + (ident ?? '') : payload,
        'base64url',
      ).slice(0, 24);
      const line = `${pk === null ? '\\N' : escapeCopy(pk)}\t${fp}\t${ident === null ? '\\N' : escapeCopy(ident)}\t${
        invalid === null ? '\\N' : invalid
      }\t${hasBackslash ? payload.replaceAll('\\', '\\\\') : payload}\t${seenColumn(pk)}\n`;
      return { line, invalid: invalid !== null };
    },
  };
}

/** One warehouse batch as COPY text for the stage, and how many of its rows Ebb knows are invalid. */
export function encodeBatch(
  encoder: RowEncoder,
  rows: readonly WarehouseRow[],
): { text: string; invalid: number } {
  const lines: string[] = new Array(rows.length);
  let invalid = 0;
  for (let i = 0; i < rows.length; i++) {
    const encoded = encoder.encode(rows[i] ?? {});
    lines[i] = encoded.line;
    if (encoded.invalid) invalid++;
  }
  return { text: lines.join(''), invalid };
}
