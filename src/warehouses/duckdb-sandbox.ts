import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { WarehouseError } from './types.ts';

export interface DuckdbSandboxConfig {
  database?: string;
  directory?: string;
}

async function requireExisting(file: string, kind: 'file' | 'directory', what: string): Promise<void> {
  const found = await stat(file).catch(() => undefined);
  if (!found) throw new WarehouseError(`${what} not found: ${file}`);
  if (kind === 'directory' ? !found.isDirectory() : !found.isFile()) {
    throw new WarehouseError(`${what} is not a ${kind}: ${file}`);
  }
}

/** Data files a DuckDB source's directory exposes as views, by extension. */
const fileReaders: Record<string, string> = {
  '.csv': 'read_csv',
  '.tsv': 'read_csv',
  '.parquet': 'read_parquet',
  '.json': 'read_json_auto',
  '.jsonl': 'read_json_auto',
  '.ndjson': 'read_json_auto',
};

const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;
const quoteIdent = (value: string) => `"${value.replaceAll('"', '""')}"`;

/**
 * One view per data file in the source's directory, named after the file (`customers.csv` →
 * `customers`), so a model reads `select * from customers`. Views are created per connection (TEMP),
 * because a read-only database file cannot hold them.
 */
async function dataFileViews(directory: string | undefined): Promise<string[]> {
  if (!directory) return [];
  const names = new Set<string>();
  const statements: string[] = [];
  for (const entry of (await readdir(directory, { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const extension = path.extname(entry.name).toLowerCase();
    const reader = fileReaders[extension];
    if (!entry.isFile() || !reader) continue;
    const name = path
      .basename(entry.name, path.extname(entry.name))
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_');
    if (names.has(name)) continue;
    names.add(name);
    statements.push(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(name)} AS SELECT * FROM ${reader}(${quoteLiteral(path.join(directory, entry.name))})`,
    );
  }
  return statements;
}

export interface Sandbox {
  instance: DuckDBInstance;
  views: string[];
  directory: string | undefined;
}

export async function createInstance(config: DuckdbSandboxConfig): Promise<Sandbox> {
  const directory = config.directory ? path.resolve(config.directory) : undefined;
  if (directory) await requireExisting(directory, 'directory', 'DuckDB directory');
  const database = config.database ? path.resolve(directory ?? '.', config.database) : undefined;
  if (database) await requireExisting(database, 'file', 'DuckDB database file');
  // A model must not make Ebb download and run code: extensions load only if already installed.
  const options: Record<string, string> = {
    autoinstall_known_extensions: 'false',
    allow_community_extensions: 'false',
  };
  if (database) options.access_mode = 'READ_ONLY';
  const instance = await DuckDBInstance.create(database ?? ':memory:', options);
  // The sandbox: model SQL may read files only inside the source's directory, never Ebb's data folder,
  // its secret key or anything else the process can read; then the configuration is locked so no
  // statement can lift it. (DuckDB checks a relative path before resolving it, so relative paths are
  // refused; the per-file views and absolute paths inside the directory work.)
  const setup = await instance.connect();
  try {
    const allowed = directory ? `[${quoteLiteral(`${directory}${path.sep}`)}]` : '[]';
    await setup.run(`SET GLOBAL allowed_directories = ${allowed}`);
    await setup.run('SET GLOBAL enable_external_access = false');
    await setup.run('SET GLOBAL lock_configuration = true');
  } catch (error) {
    setup.closeSync();
    instance.closeSync();
    throw error;
  }
  setup.closeSync();
  return { instance, views: await dataFileViews(directory), directory };
}

/** DuckDB's refusal names the file; say where files may be read from and how. */
export function explainAccess(error: WarehouseError, directory: string | undefined): WarehouseError {
  if (!/Permission Error: Cannot access/.test(error.message)) return error;
  const hint = directory
    ? `DuckDB models can read files only inside the source's directory (${directory}): by absolute path, or through the view named after each file (customers.csv → select * from customers)`
    : 'this DuckDB source has no directory, so its models cannot read files; set "directory" in the source config';
  return new WarehouseError(`${error.message.split('\n')[0]} — ${hint}`, { cause: error, code: error.code });
}
