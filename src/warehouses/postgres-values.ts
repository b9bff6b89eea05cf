import type { TextKind, WarehouseValue } from './types.ts';

/**
 * Text-format parsers for Postgres values, by type OID. The warehouse client uses these instead of
 * pg's global parsers: the state store sets a global INT8 parser to `Number`, which would silently round
 * a warehouse's large ids. Types not listed arrive as the server's text (uuid, interval, time, enums,
 * money, ...), which is exact.
 */
export type ValueParser = (text: string) => WarehouseValue;

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
} as const;

const text: ValueParser = (v) => v;
const toNumber: ValueParser = (v) => Number(v);

const scalarParsers = new Map<number, ValueParser>([
  [OID.bool, (v) => v === 't' || v === 'true'],
  [OID.bytea, parseBytea],
  [OID.int8, (v) => BigInt(v)],
  [OID.int2, toNumber],
  [OID.int4, toNumber],
  [OID.oid, toNumber],
  [OID.json, (v) => JSON.parse(v) as WarehouseValue],
  [OID.jsonb, (v) => JSON.parse(v) as WarehouseValue],
  // Number() reads `NaN`, `Infinity` and `-Infinity` as Postgres prints them.
  [OID.float4, toNumber],
  [OID.float8, toNumber],
  // Exact: a double cannot hold numeric(38,10); the engine fingerprints the decimal text.
  [OID.numeric, text],
  [OID.date, text],
  [OID.timestamp, (v) => parseTimestamp(v, false)],
  [OID.timestamptz, (v) => parseTimestamp(v, true)],
]);

const textKinds = new Map<number, TextKind>([
  [OID.int2, 'integer'],
  [OID.int4, 'integer'],
  [OID.oid, 'integer'],
  [OID.int8, 'bigint'],
  [OID.bool, 'boolean'],
  // DateStyle ISO text; a timestamptz prints with the session's offset (+00 on a UTC server).
  [OID.timestamp, 'timestamp'],
  [OID.timestamptz, 'timestamp'],
]);

/** Parser lookup for one connection; `arrayElements` maps an array type's OID to its element's OID. */
export function createTypeParsers(arrayElements: ReadonlyMap<number, number>) {
  const cache = new Map<number, ValueParser>();
  const parserFor = (oid: number): ValueParser => {
    const cached = cache.get(oid);
    if (cached) return cached;
    let parser = scalarParsers.get(oid);
    if (!parser) {
      const element = arrayElements.get(oid);
      if (element !== undefined && element !== oid) {
        const elementParser = parserFor(element);
        parser = (v) => parseArray(v, elementParser);
      } else {
        parser = text;
      }
    }
    cache.set(oid, parser);
    return parser;
  };
  return {
    // pg asks with (oid, format); Ebb never requests binary results, so the format is always text.
    getTypeParser: (oid: number) => parserFor(oid),
    /** What the type's text is (see TextKind), for planning straight from COPY text. */
    kindOf(oid: number): TextKind {
      const kind = textKinds.get(oid);
      if (kind) return kind;
      return parserFor(oid) === text ? 'string' : 'other';
    },
  };
}

const timestampPattern =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;

/**
 * Reads a timestamp in DateStyle ISO (the driver sets it for its transactions). A timestamp without
 * time zone is read as UTC, so the same warehouse value always becomes the same instant whatever the
 * machine's zone. `infinity`, `-infinity` and BC dates have no `Date`; they stay as the server's text.
 * Microseconds are truncated to milliseconds, the precision of a JavaScript `Date`.
 */
export function parseTimestamp(value: string, withZone: boolean): Date | string {
  return parseCommonTimestamp(value, withZone) ?? parseAnyTimestamp(value, withZone);
}

const digit = (value: string, at: number) => value.charCodeAt(at) - 48;
const twoDigits = (value: string, at: number) => digit(value, at) * 10 + digit(value, at + 1);

/**
 * The fast path for `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]]` with years 1000-9999, which is
 * nearly every timestamp: reading fixed positions is several times cheaper than the regular
 * expression, and a 1M-row model with a timestamp column parses a million of them. Anything else
 * (BC, infinity, years below 1000 or above 9999) returns undefined for the general parser.
 */
function parseCommonTimestamp(value: string, withZone: boolean): Date | undefined {
  if (value.length < 19 || value[4] !== '-' || value[10] !== ' ' || value[13] !== ':') return undefined;
  const year = twoDigits(value, 0) * 100 + twoDigits(value, 2);
  if (!(year >= 1000 && year <= 9999)) return undefined;
  let at = 19;
  let ms = 0;
  if (value[at] === '.') {
    at++;
    let scale = 100;
    while (at < value.length && value.charCodeAt(at) >= 48 && value.charCodeAt(at) <= 57) {
      ms += digit(value, at) * scale;
      scale /= 10;
      at++;
    }
    ms = Math.floor(ms);
  }
  let offsetSeconds = 0;
  if (at < value.length) {
    const sign = value[at];
    if (sign !== '+' && sign !== '-') return undefined;
    // Postgres prints the offset as +HH, +HH:MM or +HH:MM:SS.
    const rest = value.length - at;
    if (rest !== 3 && rest !== 6 && rest !== 9) return undefined;
    offsetSeconds = twoDigits(value, at + 1) * 3600;
    if (rest >= 6) offsetSeconds += twoDigits(value, at + 4) * 60;
    if (rest === 9) offsetSeconds += twoDigits(value, at + 7);
    if (sign === '-') offsetSeconds = -offsetSeconds;
  }
  const time = Date.UTC(
    year,
    twoDigits(value, 5) - 1,
    twoDigits(value, 8),
    twoDigits(value, 11),
    twoDigits(value, 14),
    twoDigits(value, 17),
    ms,
  );
  if (Number.isNaN(time)) return undefined;
  return new Date(withZone ? time - offsetSeconds * 1000 : time);
}

function parseAnyTimestamp(value: string, withZone: boolean): Date | string {
  const m = timestampPattern.exec(value);
  if (!m || m[12]) return value;
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os] = m;
  const ms = frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0;
  const date = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
  // Date.UTC maps years 0-99 onto 1900-1999; setting the year afterwards keeps it literal.
  date.setUTCFullYear(Number(y));
  if (withZone && sign) {
    const offsetSeconds = Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0);
    date.setTime(date.getTime() - (sign === '-' ? -1 : 1) * offsetSeconds * 1000);
  }
  return date;
}

/** bytea in either output format: `hex` (the default since Postgres 9.0) or the older `escape`. */
export function parseBytea(value: string): Uint8Array {
  if (value.startsWith('\\x')) return new Uint8Array(Buffer.from(value.slice(2), 'hex'));
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 92) {
      bytes.push(c);
    } else if (value[i + 1] === '\\') {
      bytes.push(92);
      i++;
    } else {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 4), 8));
      i += 3;
    }
  }
  return new Uint8Array(bytes);
}

/**
 * Parses Postgres's array text form: `{1,NULL,"a,b"}`, nested `{{1,2},{3,4}}`, and the bounds prefix
 * `[0:1]={...}` (bounds are dropped: a JavaScript array starts at 0).
 */
export function parseArray(value: string, element: ValueParser): WarehouseValue[] {
  let pos = value.startsWith('[') ? value.indexOf('=') + 1 : 0;

  const parseList = (): WarehouseValue[] => {
    if (value[pos] !== '{') throw new Error(`malformed array literal: ${value}`);
    pos++;
    const out: WarehouseValue[] = [];
    if (value[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      const c = value[pos];
      if (c === '{') {
        out.push(parseList());
      } else if (c === '"') {
        pos++;
        let item = '';
        while (pos < value.length && value[pos] !== '"') {
          if (value[pos] === '\\') pos++;
          item += value[pos];
          pos++;
        }
        pos++;
        out.push(element(item));
      } else {
        let end = pos;
        while (end < value.length && value[end] !== ',' && value[end] !== '}') end++;
        const item = value.slice(pos, end);
        pos = end;
        out.push(item === 'NULL' ? null : element(item));
      }
      if (value[pos] === ',') {
        pos++;
        continue;
      }
      if (value[pos] === '}') {
        pos++;
        return out;
      }
      throw new Error(`malformed array literal: ${value}`);
    }
  };
  return parseList();
}
