import { readdirSync } from 'node:fs';
import { InputError } from '../text/errors.js';
import { packagePath } from '../system/package-root.js';
import { DotenvSyntaxError, parseDotenv, type DotenvEntry } from './dotenv.js';
import { SETTINGS_BY_KEY } from '../settings/catalogue.js';
import { Secret } from './secret.js';
import { readInputFile } from '../system/input-file.js';
import { FORBIDDEN_KEYS, parseJsonObject } from './json-input.js';
import { duplicateKey } from './json-position.js';
import { SECRET_PATHS } from './schema.js';

/**
 * One source of profile values. Layers are merged lowest first:
 * host defaults < built-in profile < --profile FILE < --env-file < environment < --set.
 */
export interface Layer {
  source: string;
  data: Record<string, unknown>;
}

const ENV_NAME = /^[a-z][a-z0-9_-]{0,40}$/;

export function builtinEnvironments(): string[] {
  return readdirSync(packagePath('profiles'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

export function loadBuiltinProfile(environment: string): Layer {
  const known = builtinEnvironments();
  if (!ENV_NAME.test(environment) || !known.includes(environment)) {
    throw new InputError(`environment: unknown "${environment}"; use one of ${known.join(', ')}`, 'environment');
  }
  const label = `profiles/${environment}.json`;
  return { source: `profile:${environment}`, data: profileObject(readInputFile(packagePath('profiles', `${environment}.json`), label), label) };
}

/** `--profile FILE`, from the text the caller read (src/app/load-config.ts). */
export function profileFileLayer(text: string, path: string): Layer {
  const label = `--profile ${path}`;
  const data = profileObject(text, label);
  const twice = duplicateKey(text);
  if (twice) throw new InputError(`${twice.keyPath}: given twice (in ${label}, ${twice.at}); JSON keeps only the last, so say it once`, twice.keyPath);
  return { source: label, data };
}

function profileObject(text: string, label: string): Record<string, unknown> {
  const data = parseJsonObject(text, label);
  if (hasSecret(data)) {
    throw new InputError(`${label}: database.password must not be kept in a profile; set DBPASS in the environment or an --env-file`, 'database.password');
  }
  return data;
}

function hasSecret(data: Record<string, unknown>): boolean {
  const db = data['database'];
  return typeof db === 'object' && db !== null && 'password' in db;
}

/** Environment variable → profile path. The same names Django's settings read. */
const ENV_VARS: Readonly<Record<string, string>> = {
  DBNAME: 'database.name',
  DBUSER: 'database.user',
  DBPASS: 'database.password',
  DBHOST: 'database.host',
  DBPORT: 'database.port',
  PGBOUNCER_HOST: 'pgbouncer.listen_addr',
  PGBOUNCER_PORT: 'pgbouncer.listen_port',
};

export function envLayer(env: Readonly<Record<string, string | undefined>>, source: string): Layer {
  const data: Record<string, unknown> = {};
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    // Node.js decodes the environment as UTF-8 before any code runs, turning invalid bytes into
    // U+FFFD; so U+FFFD is refused (a real one in a password is vanishingly rare), never altered.
    if (value.includes('\ufffd')) {
      throw new InputError(`${path}: ${name} (from ${source}) is not valid UTF-8 (or contains U+FFFD); set it as UTF-8 text`, path);
    }
    setPath(data, path, SECRET_PATHS.has(path) ? new Secret(value) : value);
  }
  return { source, data };
}

/** An env file holds a few variables: 64 KiB is far more than any needs. */
export const ENV_FILE_MAX_BYTES = 64 * 1024;

/** `--env-file FILE`'s variables, from the bytes the caller read (src/app/load-config.ts). */
export function parseEnvFile(bytes: Buffer, path: string): Record<string, string> {
  let entries: Map<string, DotenvEntry>;
  try {
    entries = parseDotenv(bytes);
  } catch (e) {
    if (e instanceof DotenvSyntaxError) throw new InputError(`--env-file ${path} ${e.message}`, '--env-file');
    throw e;
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, entry] of entries) {
    if (entry.ambiguity && Object.hasOwn(ENV_VARS, name)) {
      throw new InputError(`--env-file ${path} line ${entry.line}: ${name} ${entry.ambiguity}; put the value in single quotes (${name}='...')`, ENV_VARS[name]);
    }
    out[name] = entry.value;
  }
  return out;
}

const SET_SECTIONS = ['database', 'pgbouncer', 'databases', 'userlist', 'firewall', 'server', 'host', 'django'];

/** `--set key=value`: a bare pgbouncer setting name, or a dotted path such as database.host. */
export function setLayer(assignments: readonly string[]): Layer {
  const data: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new InputError(`--set ${assignment}: expected key=value, e.g. --set default_pool_size=40`, '--set');
    const key = assignment.slice(0, eq).trim();
    const value = assignment.slice(eq + 1);
    const path = SETTINGS_BY_KEY.has(key) ? `pgbouncer.${key}` : key;
    const [section, ...rest] = path.split('.');
    const forbidden = path.split('.').find((p) => FORBIDDEN_KEYS.has(p));
    if (forbidden !== undefined) throw new InputError(`--set ${key}: ${forbidden}: unknown key`, '--set');
    if ([...SECRET_PATHS].some((secret) => path === secret || path.startsWith(`${secret}.`))) {
      throw new InputError(`--set ${key}: a password never goes on the command line (other users can read it in ps); set DBPASS in the environment or an --env-file`, path);
    }
    if (!section || !SET_SECTIONS.includes(section) || rest.length === 0 || (section === 'pgbouncer' && !SETTINGS_BY_KEY.has(rest.join('.')))) {
      throw new InputError(`--set ${key}: unknown setting; use a pgbouncer setting name (run "pgb-setup settings") or a path like database.host`, '--set');
    }
    setPath(data, path, value);
  }
  return { source: '--set', data };
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  // Never walk into Object.prototype: refused where keys come in, and here again for safety.
  const bad = parts.find((p) => FORBIDDEN_KEYS.has(p));
  if (bad !== undefined) throw new InputError(`${path}: unknown key`, path);
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(node, part) ? node[part] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(target: Record<string, unknown>, path: string): unknown {
  let node: unknown = target;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Secret);
}

/** Leaf paths of a nested object; arrays and secrets are leaves. */
export function flatten(data: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(data)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v) && Object.keys(v).length > 0) {
      for (const [p, leaf] of flatten(v, path)) out.set(p, leaf);
    } else {
      out.set(path, v);
    }
  }
  return out;
}

interface Merged {
  data: Record<string, unknown>;
  /** Which layer gave each leaf its final value. */
  sources: Map<string, string>;
}

/**
 * Layers merge key by key: a later layer replaces only the leaves it names. An empty object
 * changes nothing (`{"pgbouncer": {}}` keeps every built-in setting) except that it creates a key
 * that was not there (`{"databases": {"reports": {}}}` adds an entry with defaults); a list is a
 * leaf, so an explicit empty list does replace one, and `config --explain` credits that layer.
 */
export function mergeLayers(layers: readonly Layer[]): Merged {
  const data: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const layer of layers) {
    for (const [path, value] of flatten(layer.data)) {
      if (path.startsWith('why.') || path === 'why' || path === 'description' || path === '$schema') {
        if (layer.source.startsWith('profile:') || layer.source.startsWith('--profile')) setPath(data, path, value);
        continue;
      }
      if (isPlainObject(value) && Object.keys(value).length === 0) {
        if (getPath(data, path) === undefined) {
          setPath(data, path, {});
          sources.set(path, layer.source);
        }
        continue;
      }
      setPath(data, path, value);
      sources.set(path, layer.source);
    }
  }
  return { data, sources };
}
