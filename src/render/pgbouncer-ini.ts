import { formatSettingValue } from '../settings/values.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { renderTemplate } from './templates.js';
import { InputError } from '../text/errors.js';
import { versionAtLeast } from '../settings/version.js';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f]/;

/** A [databases] key: bare when pgbouncer's parser takes it as is, else double-quoted with "" for ". */
export function databaseKey(name: string): string {
  assertSafe(name, 'database.name');
  return /^[A-Za-z0-9_.*-]+$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

/** A connection-string value: bare when it has no space or quote, else '...' with '' for '. */
export function connectionValue(value: string | number): string {
  const s = String(value);
  assertSafe(s, 'databases');
  return /^[^\s'"\\]+$/.test(s) ? s : `'${s.replaceAll("'", "''")}'`;
}

function assertSafe(s: string, field: string): void {
  if (UNSAFE.test(s)) throw new InputError(`${field}: must not contain line breaks or control characters`, field);
}

interface DatabaseLine {
  key: string;
  connection: string;
}

/**
 * pgbouncer's ini reader (libusual cfparser) takes a key as letters, digits and `_ . - *` only and
 * has no quoting: a quoted or otherwise odd [databases] name is a syntax error that stops pgbouncer
 * loading the whole file (checked with 1.18 and 1.24). Such names are refused here, as bad input.
 */
function assertDatabaseKey(name: string, field: string): void {
  // `*` is pgbouncer's catch-all entry: only a databases.* profile entry may ask for it, not DBNAME.
  if (!(field === 'database.name' ? /^[A-Za-z0-9_.-]+$/ : /^[A-Za-z0-9_.*-]+$/).test(name)) {
    throw new InputError(
      `${field}: ${JSON.stringify(name)} cannot be a pgbouncer database name: pgbouncer reads [databases] names without quotes, so only letters, digits, _ . - work; ` +
        'choose such a name for clients (a databases.<name>.dbname entry can point it at a PostgreSQL database with any name)',
      field,
    );
  }
}

export function databaseLines(config: ResolvedConfig): DatabaseLine[] {
  const db = config.profile.database;
  const lines: DatabaseLine[] = [];
  const entry = (name: string, params: [string, string | number | undefined][]) => {
    assertDatabaseKey(name, name === db.name ? 'database.name' : `databases.${name}`);
    const connection = params
      .filter((p): p is [string, string | number] => p[1] !== undefined)
      .map(([k, v]) => `${k}=${connectionValue(v)}`)
      .join(' ');
    lines.push({ key: databaseKey(name), connection });
  };
  if (db.name) entry(db.name, [['host', db.host], ['port', db.port], ['dbname', db.name]]);
  for (const [name, e] of Object.entries(config.profile.databases)) {
    entry(name, [
      ['host', e.host ?? db.host],
      ['port', e.port ?? db.port],
      ['dbname', e.dbname ?? name],
      ['pool_size', e.pool_size],
      ['min_pool_size', e.min_pool_size],
      [versionAtLeast(config.target.version, '1.24') ? 'reserve_pool_size' : 'reserve_pool', e.reserve_pool_size],
      ['pool_mode', e.pool_mode],
      ['max_db_connections', e.max_db_connections],
      ['application_name', e.application_name],
    ]);
  }
  return lines;
}

export interface ProcessGroup {
  id: number;
  count: number;
  /** [peers] entries: every process of the group, by its unix socket folder. Empty without peers. */
  peers: { id: number; socketDir: string; port: number }[];
}

export function renderPgbouncerIni(config: ResolvedConfig, group?: ProcessGroup): string {
  return renderTemplate('pgbouncer.ini', {
    environment: config.environment,
    targetVersion: config.target.version,
    process: group ? { id: group.id, count: group.count } : false,
    databases: databaseLines(config),
    peers: (group?.peers ?? []).map((p) => ({ id: p.id, connection: `host=${connectionValue(p.socketDir)} port=${p.port}` })),
    settings: config.settings.map((s) => ({ key: s.key, value: formatSettingValue(s.value) })),
  });
}
