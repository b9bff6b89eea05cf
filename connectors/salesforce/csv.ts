import type { Json } from '../types.ts';

/**
 * Bulk API 2.0 CSV, written here rather than by jsforce's serialiser, which adds an `Id` column to
 * every upsert and writes `#N/A` for fields a record merely does not carry. Here:
 * - a field set to null is `#N/A`, Salesforce's marker for "clear this field" (the same effect as
 *   JSON null in a Collections call);
 * - a field absent from a record (another record of the batch maps it) is empty, which Bulk 2.0
 *   treats as "leave unchanged";
 * - objects and arrays are sent as JSON text, booleans as `true`/`false`.
 */
export const bulkNull = '#N/A';

function cell(value: Json | undefined): string {
  if (value === undefined) return '';
  if (value === null) return bulkNull;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(columns: readonly string[], rows: readonly Record<string, Json | undefined>[]): string {
  const lines = [columns.map((c) => cell(c)).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\n')}\n`;
}
