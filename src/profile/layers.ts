import { readFileSync, readdirSync } from 'node:fs';
import { InputError } from '../errors.js';
import { packagePath } from '../package-root.js';
import { DotenvSyntaxError, parseDotenv, type DotenvEntry } from './dotenv.js';
import { SETTINGS_BY_KEY } from '../settings/catalogue.js';
import { Secret } from './secret.js';
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
  return { source: `profile:${environment}`, data: readJsonObject(packagePath('profiles', `${environment}.json`), `profiles/${environment}.json`) };
}

export function loadProfileFile(path: string): Layer {
  return { source: `--profile ${path}`, data: readJsonObject(path, `--profile ${path}`) };
}

function readJsonObject(path: string, label: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`${label}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, label);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${label}: not valid JSON (${(e as Error).message})`, label);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError(`${label}: must hold a JSON object`, label);
  }
  if (hasSecret(data as Record<string, unknown>)) {
    throw new InputError(`${label}: database.password must not be kept in a profile; set DBPASS in the environment or an --env-file`, 'database.password');
  }
  return data as Record<string, unknown>;
}

function hasSecret(data: Record<string, unknown>): boolean {
  const db = data['database'];
  return typeof db === 'object' && db !== null && 'password' in db;
}

/** Environment variable → profile path. The same names Django's settings read. */
export const ENV_VARS: Readonly<Record<string, string>> = {
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
    setPath(data, path, SECRET_PATHS.has(path) ? new Secret(value) : value);
  }
  return { source, data };
}

export function readEnvFile(path: string): Record<string, string> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new InputError(`--env-file ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, '--env-file');
  }
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
    if (SECRET_PATHS.has(path)) {
      throw new InputError(`--set ${key}: a password never goes on the command line (other users can read it in ps); set DBPASS in the environment or an --env-file`, path);
    }
    if (!section || !SET_SECTIONS.includes(section) || rest.length === 0 || (section === 'pgbouncer' && !SETTINGS_BY_KEY.has(rest.join('.')))) {
      throw new InputError(`--set ${key}: unknown setting; use a pgbouncer setting name (run "pgb-setup settings") or a path like database.host`, '--set');
    }
    setPath(data, path, value);
  }
  return { source: '--set', data };
}

export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
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

export interface Merged {
  data: Record<string, unknown>;
  /** Which layer gave each leaf its final value. */
  sources: Map<string, string>;
}

export function mergeLayers(layers: readonly Layer[]): Merged {
  const data: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const layer of layers) {
    for (const [path, value] of flatten(layer.data)) {
      if (path.startsWith('why.') || path === 'description' || path === '$schema') {
        if (layer.source.startsWith('profile:') || layer.source.startsWith('--profile')) setPath(data, path, value);
        continue;
      }
      setPath(data, path, value);
      sources.set(path, layer.source);
    }
  }
  return { data, sources };
}
