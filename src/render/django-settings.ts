import { InputError } from '../text/errors.js';
import { connectHostFor, settingList } from '../settings/listen.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { versionAtLeast } from '../settings/version.js';
import { renderTemplate } from './templates.js';

/**
 * Django's DATABASES block (or .env lines) for a resolved profile. Every value that comes from the
 * profile reaches the Python source only as an escaped string literal (pyStr) or a number/bool we
 * produce ourselves; secrets are never read here, the generated code takes them from the environment.
 */

export type DjangoEngine = 'postgresql' | 'postgis';
export type EnvStyle = 'os' | 'environ';

interface DjangoSettingsOptions {
  engine?: DjangoEngine;
  envStyle?: EnvStyle;
  direct?: boolean;
}

const ENGINES: Record<DjangoEngine, string> = {
  postgresql: 'django.db.backends.postgresql',
  postgis: 'django.contrib.gis.db.backends.postgis',
};

/** CONN_MAX_AGE straight to PostgreSQL: each persistent connection holds a backend, so keep it short. */
const DIRECT_CONN_MAX_AGE = 60;
/** CONN_MAX_AGE through transaction pooling when the profile names none. */
const DEFAULT_POOLED_CONN_MAX_AGE = 600;

/**
 * A Python 3 string literal for any JS string: double-quoted, pure ASCII (everything outside
 * printable ASCII becomes \x, \u or \U escapes), so no value can end the literal or the line.
 */
export function pyStr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

type PyValue = string | number | boolean | null;

/** A Python literal for a value we chose (numbers, booleans, None) or a string from the profile. */
function pyLiteral(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`);
    return String(v);
  }
  return pyStr(v);
}

/** `a if PGBOUNCER_ENABLED else b`, or just `a` when both are the same. */
function switched(pooled: PyValue, direct: PyValue): string {
  return pooled === direct ? pyLiteral(pooled) : `${pyLiteral(pooled)} if PGBOUNCER_ENABLED else ${pyLiteral(direct)}`;
}

type PoolMode = 'session' | 'transaction' | 'statement';

/** The pool mode the app's database gets: its own [databases] pool_mode, else the global one (pgbouncer's default is session). */
function effectivePoolMode(config: ResolvedConfig): PoolMode {
  const name = config.profile.database.name;
  const own = name ? config.profile.databases[name]?.pool_mode : undefined;
  return (own ?? (setting(config, 'pool_mode') as PoolMode | undefined) ?? 'session') as PoolMode;
}

/** Where a client on this host reaches pgbouncer: listen_addr, unless it is a wildcard (then loopback). */
function clientHost(config: ResolvedConfig): string {
  return connectHostFor(settingList(setting(config, 'listen_addr'))) ?? '127.0.0.1';
}

/** sslmode for the hop to pgbouncer: what its client TLS offers (never "require" when it offers none). */
export function pooledSslmode(config: ResolvedConfig): string {
  if (config.profile.django.sslmode) return config.profile.django.sslmode;
  const clientTls = setting(config, 'client_tls_sslmode');
  // disable: pgbouncer answers "no TLS" and libpq goes on in clear text; prefer also keeps working
  // once client TLS is switched on, and after a rollback to a PostgreSQL that offers TLS.
  if (clientTls === undefined || clientTls === 'disable') return 'prefer';
  // Any other mode needs client_tls_key_file and client_tls_cert_file (checked), so TLS is on offer;
  // with the CA on the app host (sslrootcert) libpq also checks pgbouncer's certificate and name.
  return config.profile.django.sslrootcert ? 'verify-full' : 'require';
}

/** pgbouncer offers TLS and the app hosts hold the CA that signed its certificate (sslrootcert): they verify it. */
function verifiesPgbouncer(config: ResolvedConfig): boolean {
  const clientTls = setting(config, 'client_tls_sslmode');
  return clientTls !== undefined && clientTls !== 'disable' && config.profile.django.sslrootcert !== undefined;
}

interface DjangoChoices {
  poolMode: PoolMode;
  pooledConnMaxAge: number | null;
  pooledHealthChecks: boolean;
  pooledSslmode: string;
  directSslmode: string;
  applicationName: string;
  connectTimeout: number | undefined;
  disableServerSideCursors: boolean;
  /** Things the user should know, for stderr. */
  warnings: string[];
}

/** Every decision the snippet encodes, from the profile and the pool mode. */
function djangoChoices(config: ResolvedConfig): DjangoChoices {
  const django = config.profile.django;
  const poolMode = effectivePoolMode(config);
  const warnings: string[] = [];
  const maxAgeSource = config.sources.get('django.conn_max_age') ?? 'default';
  const builtin = maxAgeSource.startsWith('profile:') || maxAgeSource === 'default';
  let pooledConnMaxAge: number | null;
  if (poolMode === 'session' && builtin) {
    // The built-in values are for transaction pooling; in session mode a persistent client would pin a server.
    pooledConnMaxAge = 0;
  } else {
    pooledConnMaxAge = django.conn_max_age === undefined ? DEFAULT_POOLED_CONN_MAX_AGE : django.conn_max_age;
  }
  if (poolMode === 'session' && pooledConnMaxAge !== 0) {
    warnings.push(
      `django.conn_max_age: ${pooledConnMaxAge === null ? 'None' : pooledConnMaxAge} with pool_mode session keeps a server connection per Django thread for that long; threads beyond default_pool_size wait (query_wait_timeout). Use 0 or pool_mode=transaction`,
    );
  }
  if (poolMode === 'statement') {
    warnings.push(
      'pool_mode: statement refuses multi-statement transactions, so transaction.atomic() (saves of inherited models, deletes with cascades, migrate) fails; use pool_mode=transaction for Django',
    );
  }
  const pooledHealthChecks = pooledConnMaxAge === 0 ? false : (django.conn_health_checks ?? true);
  return {
    poolMode,
    pooledConnMaxAge,
    pooledHealthChecks,
    pooledSslmode: pooledSslmode(config),
    directSslmode: django.sslmode ?? 'prefer',
    applicationName: django.application_name ?? `django_${config.environment}`,
    connectTimeout: django.connect_timeout,
    disableServerSideCursors: poolMode !== 'session',
    warnings,
  };
}

function preparedStatementsComment(config: ResolvedConfig, poolMode: PoolMode): string[] {
  if (poolMode === 'session') {
    return ['# psycopg 3: session pooling keeps one server per client connection, so prepared statements work.'];
  }
  const version = config.target.version;
  const max = setting(config, 'max_prepared_statements');
  const tracked = versionAtLeast(version, '1.21') && typeof max === 'number' && max > 0;
  if (tracked && versionAtLeast(version, '1.22')) {
    return [
      '# psycopg 3: Django 4.2+ binds parameters client-side and never prepares. To prepare, add',
      `# "server_side_binding": True and "prepare_threshold": 5: pgbouncer ${version} tracks them`,
      `# (max_prepared_statements = ${max}). psycopg supports this from 3.2 with libpq 17+ (see its docs).`,
    ];
  }
  const why = tracked
    ? `psycopg 3 supports them through pgbouncer 1.22+ only (this is ${version})`
    : versionAtLeast(version, '1.21')
      ? `max_prepared_statements is 0 in pgbouncer ${version}`
      : `pgbouncer ${version} cannot track them (max_prepared_statements needs 1.21+)`;
  return [
    '# psycopg 3: keep the default client-side binding; do not add "server_side_binding" or',
    `# "prepare_threshold": ${why},`,
    '# and through transaction pooling prepared statements fail with "prepared statement ... does not exist".',
  ];
}

function connMaxAgeComment(poolMode: PoolMode, direct: boolean, pooled: number | null): string[] {
  const directLine = `# With PGBOUNCER_ENABLED=false each connection holds a PostgreSQL backend: ${DIRECT_CONN_MAX_AGE} s, like --direct.`;
  if (direct) {
    return [
      '# Persistent connections save a backend start and a SCRAM login per request; each one holds a',
      '# PostgreSQL backend, so keep hosts x processes x threads below max_connections (or set 0).',
      '# Health checks (Django 4.1+; older versions ignore the key) replace a dead connection before use.',
    ];
  }
  if (poolMode === 'session') {
    if (pooled !== 0) {
      return [
        '# Session pooling: an open client connection keeps its server connection, so each persistent',
        '# Django connection pins one server; size default_pool_size for every thread of every host.',
        directLine,
      ];
    }
    return [
      '# Session pooling: an open client connection keeps its server connection, so persistent Django',
      '# connections would pin the pool to the first threads and make the rest wait. 0 hands the server',
      '# back after every request, at the cost of one login to pgbouncer per request.',
      directLine,
    ];
  }
  return [
    '# Persistent client connections to pgbouncer: with 0 every request pays a full connection start and',
    '# SCRAM login; kept open they hold no server connection between transactions (transaction pooling).',
    '# Budget max_client_conn >= hosts x processes x threads. Health checks (Django 4.1+; older versions',
    '# ignore the key) replace a connection that died, e.g. when pgbouncer restarted, before it is used.',
    directLine,
  ];
}

interface DjangoSettingsView {
  environment: string;
  targetVersion: string;
  poolMode: string;
  direct: boolean;
  osStyle: boolean;
  environStyle: boolean;
  engine: string;
  pgbouncerHostDefault: string;
  pgbouncerPortDefault: string;
  dbHostDefault: string;
  dbPortDefault: string;
  disableServerSideCursors: boolean;
  statementWarning: boolean;
  connMaxAgeComment: string[];
  connMaxAge: string;
  healthChecks: string;
  applicationName: string;
  sslmode: string;
  /** TLS to pgbouncer: sslmode and sslrootcert read from PGBOUNCER_SSLMODE / PGBOUNCER_SSLROOTCERT, defaults from the profile. */
  pgbouncerTls: boolean;
  tlsSslmode: string;
  directSslmode: string;
  sslrootcert: string;
  hasConnectTimeout: boolean;
  connectTimeout: string;
  preparedComment: string[];
}

function djangoSettingsView(config: ResolvedConfig, opts: DjangoSettingsOptions = {}): { view: DjangoSettingsView; warnings: string[] } {
  const direct = opts.direct ?? false;
  const choices = djangoChoices(config);
  const listenPort = setting(config, 'listen_port');
  const db = config.profile.database;
  const directHealth = true;
  const view: DjangoSettingsView = {
    environment: config.environment,
    targetVersion: config.target.version,
    poolMode: choices.poolMode,
    direct,
    osStyle: (opts.envStyle ?? 'os') === 'os',
    environStyle: opts.envStyle === 'environ',
    engine: pyStr(ENGINES[opts.engine ?? 'postgresql']),
    pgbouncerHostDefault: pyStr(clientHost(config)),
    pgbouncerPortDefault: pyStr(String(typeof listenPort === 'number' ? listenPort : 6432)),
    dbHostDefault: pyStr(db.host ?? '127.0.0.1'),
    dbPortDefault: pyStr(String(db.port)),
    disableServerSideCursors: !direct && choices.disableServerSideCursors,
    statementWarning: !direct && choices.poolMode === 'statement',
    connMaxAgeComment: connMaxAgeComment(choices.poolMode, direct, choices.pooledConnMaxAge),
    connMaxAge: direct ? pyLiteral(DIRECT_CONN_MAX_AGE) : switched(choices.pooledConnMaxAge, DIRECT_CONN_MAX_AGE),
    healthChecks: direct ? pyLiteral(directHealth) : switched(choices.pooledHealthChecks, directHealth),
    applicationName: pyStr(choices.applicationName),
    sslmode: direct ? pyStr(choices.directSslmode) : switched(choices.pooledSslmode, choices.directSslmode),
    pgbouncerTls: !direct && verifiesPgbouncer(config),
    tlsSslmode: pyStr(choices.pooledSslmode),
    directSslmode: pyStr(choices.directSslmode),
    sslrootcert: pyStr(config.profile.django.sslrootcert ?? ''),
    hasConnectTimeout: choices.connectTimeout !== undefined,
    connectTimeout: choices.connectTimeout === undefined ? '' : pyLiteral(choices.connectTimeout),
    preparedComment: direct ? [] : preparedStatementsComment(config, choices.poolMode),
  };
  return { view, warnings: direct ? [] : choices.warnings };
}

export function renderDjangoSettings(config: ResolvedConfig, opts: DjangoSettingsOptions = {}): { text: string; warnings: string[] } {
  const { view, warnings } = djangoSettingsView(config, opts);
  return { text: renderTemplate('django-settings.py', view), warnings };
}

/**
 * A dotenv value that reads the same in node's parseEnv, python-dotenv, django-environ's read_env
 * and a POSIX shell: bare when it has only plain characters, else in single quotes.
 */
function dotenvValue(value: string, name: string): string {
  if (/^[A-Za-z0-9_.,:/@%+=-]*$/.test(value)) return value;
  if (/[\u0000-\u001f\u007f']/.test(value)) {
    throw new InputError(`${name}: ${JSON.stringify(value)} cannot be written to a .env file safely (quote or control character); set ${name} by hand`, name);
  }
  return `'${value}'`;
}

interface DjangoEnvLine {
  comment: string[];
  line: string;
}

export function renderDjangoEnv(config: ResolvedConfig, opts: DjangoSettingsOptions = {}): { text: string; warnings: string[] } {
  const db = config.profile.database;
  const listenPort = setting(config, 'listen_port');
  const warnings: string[] = [];
  const value = (name: string, v: string | undefined): string => {
    if (v === undefined) {
      warnings.push(`${name}: not set (environment, --env-file or profile); the .env line is left empty, fill it in`);
      return `${name}=`;
    }
    return `${name}=${dotenvValue(v, name)}`;
  };
  const lines: DjangoEnvLine[] = [
    {
      comment: ['# false (0, no, off) connects Django straight to PostgreSQL at DBHOST:DBPORT: the rollback switch.'],
      line: `PGBOUNCER_ENABLED=${opts.direct ? 'false' : 'true'}`,
    },
    { comment: [], line: value('PGBOUNCER_HOST', clientHost(config)) },
    { comment: [], line: value('PGBOUNCER_PORT', String(typeof listenPort === 'number' ? listenPort : 6432)) },
    { comment: [], line: value('DBNAME', db.name) },
    { comment: [], line: value('DBUSER', db.user) },
    {
      comment: ['# The database password: pgb-setup never prints it. Fill it in here, or set DBPASS in the service environment.'],
      line: 'DBPASS=',
    },
    ...(!opts.direct && verifiesPgbouncer(config)
      ? [
          { comment: ['# TLS to pgbouncer. sslrootcert: the CA file copied from the pgbouncer host (/etc/pgbouncer/tls/ca.crt).'], line: value('PGBOUNCER_SSLMODE', pooledSslmode(config)) },
          { comment: [], line: value('PGBOUNCER_SSLROOTCERT', config.profile.django.sslrootcert!) },
        ]
      : []),
    { comment: [], line: value('DBHOST', db.host) },
    { comment: [], line: value('DBPORT', String(db.port)) },
  ];
  const text = renderTemplate('django-env', {
    environment: config.environment,
    direct: opts.direct ?? false,
    lines: lines.flatMap((l) => [...l.comment, l.line]),
  });
  return { text, warnings };
}
