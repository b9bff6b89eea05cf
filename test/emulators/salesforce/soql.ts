import type { Org } from './org.ts';

/**
 * The SOQL the connector sends, and little more: `SELECT f, … FROM T [WHERE f IN ('a', …) | WHERE f = 'a']`.
 * Anything else is answered MALFORMED_QUERY, as Salesforce does for a query it cannot parse.
 */
export function runSoql(org: Org, soql: string): { status: number; body: unknown } {
  const m =
    /^SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(\w+)\s*(?:IN\s*\((.*)\)|=\s*('(?:[^'\\]|\\.)*')))?\s*$/is.exec(
      soql.trim(),
    );
  if (!m) return malformed(soql);
  const fields = (m[1] ?? '').split(',').map((f) => f.trim());
  const type = m[2] ?? '';
  const def = org.objects.get(type);
  if (!def) {
    return {
      status: 400,
      body: [{ errorCode: 'INVALID_TYPE', message: `sObject type '${type}' is not supported.` }],
    };
  }
  for (const f of [...fields, ...(m[3] ? [m[3]] : [])]) {
    if (!def.fields.some((d) => d.name === f)) {
      return {
        status: 400,
        body: [{ errorCode: 'INVALID_FIELD', message: `No such column '${f}' on entity '${type}'.` }],
      };
    }
  }
  let values: string[] | null = null;
  if (m[3]) {
    values = [];
    const literals = m[4] ?? m[5] ?? '';
    const re = /'((?:[^'\\]|\\.)*)'/g;
    for (let lit = re.exec(literals); lit; lit = re.exec(literals))
      values.push((lit[1] ?? '').replace(/\\(.)/g, '$1'));
  }
  const lower = values?.map((v) => v.toLowerCase());
  const where = m[3];
  const records = org
    .records(type)
    .filter((r) => !where || !lower || lower.includes(String(r[where] ?? '').toLowerCase()))
    .map((r) => ({
      attributes: { type, url: `/services/data/v62.0/sobjects/${type}/${String(r.Id)}` },
      ...Object.fromEntries(fields.map((f) => [f, r[f] ?? null])),
    }));
  return { status: 200, body: { totalSize: records.length, done: true, records } };
}

function malformed(soql: string) {
  return {
    status: 400,
    body: [{ errorCode: 'MALFORMED_QUERY', message: `unexpected token in: ${soql.slice(0, 200)}` }],
  };
}
