import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  DuckDBUnionValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import type { WarehouseValue } from './types.ts';

/**
 * Converts DuckDB's values to the canonical JavaScript values documented in `types.ts`. The library's
 * own JS converter turns DECIMAL into a double and DATE into a local `Date`; both would change a
 * row's fingerprint or its meaning, so Ebb converts itself.
 */
export function toWarehouseValue(value: DuckDBValue): WarehouseValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value;
  }
  if (value instanceof DuckDBTimestampValue || value instanceof DuckDBTimestampTZValue) {
    return value.isFinite ? new Date(Number(value.micros / 1000n)) : value.toString();
  }
  if (value instanceof DuckDBTimestampMillisecondsValue) {
    return value.isFinite ? new Date(Number(value.millis)) : value.toString();
  }
  if (value instanceof DuckDBTimestampSecondsValue) {
    return value.isFinite ? new Date(Number(value.seconds) * 1000) : value.toString();
  }
  if (value instanceof DuckDBTimestampNanosecondsValue) {
    return value.isFinite ? new Date(Number(value.nanos / 1_000_000n)) : value.toString();
  }
  // DuckDB prints dates as YYYY-MM-DD, the canonical form (and `infinity` or `... (BC)` otherwise).
  if (value instanceof DuckDBDateValue) return value.toString();
  if (value instanceof DuckDBBlobValue) {
    const bytes = value.bytes;
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) {
    return value.items.map(toWarehouseValue);
  }
  if (value instanceof DuckDBStructValue) {
    const out: Record<string, WarehouseValue> = {};
    for (const [key, item] of Object.entries(value.entries)) out[key] = toWarehouseValue(item);
    return out;
  }
  // A JSON-shaped row needs string keys; a MAP's keys are usually text already, others use their text.
  if (value instanceof DuckDBMapValue) {
    const out: Record<string, WarehouseValue> = {};
    for (const entry of value.entries) out[String(entry.key)] = toWarehouseValue(entry.value);
    return out;
  }
  if (value instanceof DuckDBUnionValue) return toWarehouseValue(value.value);
  // DECIMAL (exact text), UUID, INTERVAL, TIME, BIT, ...: DuckDB's own text form.
  return value.toString();
}

const identity = (value: DuckDBValue): WarehouseValue => value as WarehouseValue;
const asText = (value: DuckDBValue): WarehouseValue => (value === null ? null : value.toString());

/**
 * The converter for one result column, picked once per query by the column's type: a 1M-row model
 * converts ten million values, and the generic `instanceof` walk costs more than reading them.
 */
export function columnConverter(type: DuckDBType): (value: DuckDBValue) => WarehouseValue {
  switch (type.typeId) {
    case DuckDBTypeId.VARCHAR:
      // JSON is VARCHAR with an alias; it is parsed, like Postgres json.
      if (type.alias === 'JSON') {
        return (value) => (typeof value === 'string' ? (JSON.parse(value) as WarehouseValue) : null);
      }
      return identity;
    case DuckDBTypeId.BOOLEAN:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.SQLNULL:
      return identity;
    case DuckDBTypeId.DECIMAL:
    case DuckDBTypeId.DATE:
    case DuckDBTypeId.UUID:
    case DuckDBTypeId.INTERVAL:
    case DuckDBTypeId.TIME:
      return asText;
    default:
      return toWarehouseValue;
  }
}
