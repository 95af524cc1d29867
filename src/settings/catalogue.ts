/**
 * Every [pgbouncer] setting pgb-setup knows how to emit: its type, the first pgbouncer release
 * that accepts it, and whether a RELOAD applies it (the rest need a restart; pgbouncer silently
 * ignores them on reload). Order here is the order in the rendered file.
 * Sources: pgbouncer src/main.c bouncer_params[] per tag, doc/config.md, checked with SHOW CONFIG on 1.18 and 1.24.
 */
export type SettingType =
  | { kind: 'int'; min: number; max: number }
  /** A file mode, read as octal digits like chmod does ("0660", "660" and 660 all mean rw-rw----). */
  | { kind: 'mode' }
  | { kind: 'secs' }
  | { kind: 'bool' }
  | { kind: 'str'; pattern?: RegExp; hint?: string }
  | { kind: 'enum'; values: readonly string[]; valuesSince?: Record<string, string> }
  | { kind: 'list'; item?: RegExp; hint?: string };

interface SettingDef {
  key: string;
  type: SettingType;
  /** First release that knows the key (1.15 means "1.15 or older"; 1.15 is our floor). */
  since: string;
  reloadable: boolean;
  group: string;
}

const INT = (min = 0, max = 2_147_483_647): SettingType => ({ kind: 'int', min, max });
const SECS: SettingType = { kind: 'secs' };
const BOOL: SettingType = { kind: 'bool' };
const PATH: SettingType = { kind: 'str', pattern: /^\/[^\s;#]*$/, hint: 'an absolute path without spaces' };
const NAMES: SettingType = { kind: 'list', item: /^[A-Za-z0-9_.@$-]+$/, hint: 'user names of letters, digits, _ . @ $ -' };
const SSLMODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

const defs: SettingDef[] = [];
function add(group: string, key: string, type: SettingType, since = '1.15', reloadable = true): void {
  defs.push({ key, type, since, reloadable, group });
}

// Where and as whom it listens: none of these can change on RELOAD.
add('listen', 'listen_addr', { kind: 'list', item: /^(\*|[A-Za-z0-9_.:-]+)$/, hint: 'addresses or host names, or *' }, '1.15', false);
add('listen', 'listen_port', INT(1, 65535), '1.15', false);
add('listen', 'unix_socket_dir', { kind: 'str', pattern: /^(\/[^\s;#]*)?$/, hint: 'an absolute path, or empty to disable' }, '1.15', false);
add('listen', 'unix_socket_mode', { kind: 'mode' }, '1.15', false);
add('listen', 'unix_socket_group', { kind: 'str', pattern: /^[A-Za-z0-9_.-]*$/ }, '1.15', false);
add('listen', 'listen_backlog', INT(1, 65535), '1.15', false);
add('listen', 'so_reuseport', BOOL, '1.15', false);
add('listen', 'peer_id', INT(0, 16383), '1.19');
add('listen', 'user', { kind: 'str', pattern: /^[A-Za-z0-9_.-]+$/ }, '1.15', false);
add('listen', 'pidfile', PATH, '1.15', false);
add('listen', 'logfile', PATH);
add('listen', 'syslog', BOOL);
add('listen', 'job_name', { kind: 'str', pattern: /^[A-Za-z0-9_.-]+$/ }, '1.15', false);

// Authentication.
add('auth', 'auth_type', {
  kind: 'enum',
  values: ['cert', 'md5', 'scram-sha-256', 'plain', 'trust', 'any', 'hba', 'pam', 'ldap'],
  valuesSince: { ldap: '1.25' },
});
add('auth', 'auth_file', PATH);
add('auth', 'auth_hba_file', PATH);
add('auth', 'auth_ident_file', PATH, '1.23');
add('auth', 'auth_user', { kind: 'str', pattern: /^[A-Za-z0-9_.-]+$/ });
add('auth', 'auth_query', { kind: 'str', pattern: /^[^;#]+$/, hint: 'one SQL statement without ; or #' });
add('auth', 'auth_dbname', { kind: 'str', pattern: /^[A-Za-z0-9_.-]+$/ }, '1.19');
add('auth', 'admin_users', NAMES);
add('auth', 'stats_users', NAMES);

// Pooling.
add('pool', 'pool_mode', { kind: 'enum', values: ['session', 'transaction', 'statement'] });
add('pool', 'max_client_conn', INT(1));
add('pool', 'default_pool_size', INT(0));
add('pool', 'min_pool_size', INT(0));
add('pool', 'reserve_pool_size', INT(0));
add('pool', 'reserve_pool_timeout', SECS);
add('pool', 'max_db_connections', INT(0));
add('pool', 'max_user_connections', INT(0));
add('pool', 'max_db_client_connections', INT(0), '1.24');
add('pool', 'max_user_client_connections', INT(0), '1.24');
add('pool', 'server_round_robin', BOOL);
add('pool', 'max_prepared_statements', INT(0), '1.21');
add('pool', 'ignore_startup_parameters', { kind: 'list', item: /^[A-Za-z0-9_]+$/, hint: 'parameter names' });
add('pool', 'track_extra_parameters', { kind: 'list', item: /^[A-Za-z0-9_]+$/, hint: 'parameter names' }, '1.20', false);
add('pool', 'application_name_add_host', BOOL);

// Server connections.
add('server', 'server_reset_query', { kind: 'str', pattern: /^[^;#]*$/ });
add('server', 'server_reset_query_always', BOOL);
add('server', 'server_check_query', { kind: 'str', pattern: /^[^;#]*$/ });
add('server', 'server_check_delay', SECS);
add('server', 'server_fast_close', BOOL);
add('server', 'server_lifetime', SECS);
add('server', 'server_idle_timeout', SECS);
add('server', 'server_connect_timeout', SECS);
add('server', 'server_login_retry', SECS);

// Timeouts.
add('timeouts', 'query_timeout', SECS);
add('timeouts', 'query_wait_timeout', SECS);
add('timeouts', 'query_wait_notify', INT(0), '1.25');
add('timeouts', 'client_idle_timeout', SECS);
add('timeouts', 'client_login_timeout', SECS);
add('timeouts', 'idle_transaction_timeout', SECS);
add('timeouts', 'transaction_timeout', SECS, '1.25');
add('timeouts', 'cancel_wait_timeout', SECS, '1.19');
add('timeouts', 'suspend_timeout', SECS);
add('timeouts', 'autodb_idle_timeout', SECS);

// TLS.
add('tls', 'client_tls_sslmode', { kind: 'enum', values: SSLMODES });
add('tls', 'client_tls_key_file', PATH);
add('tls', 'client_tls_cert_file', PATH);
add('tls', 'client_tls_ca_file', PATH);
add('tls', 'client_tls_protocols', { kind: 'str', pattern: /^[a-z0-9.,]+$/ });
add('tls', 'client_tls_ciphers', { kind: 'str', pattern: /^[A-Za-z0-9_:!+.-]+$/ });
add('tls', 'client_tls13_ciphers', { kind: 'str', pattern: /^[A-Za-z0-9_:]+$/ }, '1.25');
add('tls', 'server_tls_sslmode', { kind: 'enum', values: SSLMODES });
add('tls', 'server_tls_ca_file', PATH);
add('tls', 'server_tls_key_file', PATH);
add('tls', 'server_tls_cert_file', PATH);
add('tls', 'server_tls_protocols', { kind: 'str', pattern: /^[a-z0-9.,]+$/ });
add('tls', 'server_tls_ciphers', { kind: 'str', pattern: /^[A-Za-z0-9_:!+.-]+$/ });
add('tls', 'server_tls13_ciphers', { kind: 'str', pattern: /^[A-Za-z0-9_:]+$/ }, '1.25');

// Logging.
add('logging', 'log_connections', BOOL);
add('logging', 'log_disconnections', BOOL);
add('logging', 'log_pooler_errors', BOOL);
add('logging', 'log_stats', BOOL);
add('logging', 'stats_period', INT(1));
add('logging', 'verbose', INT(0, 3));

// Low level.
add('lowlevel', 'pkt_buf', INT(512), '1.15', false);
add('lowlevel', 'max_packet_size', INT(9));
add('lowlevel', 'scram_iterations', INT(1), '1.25');
add('lowlevel', 'tcp_keepalive', BOOL);
add('lowlevel', 'tcp_keepcnt', INT(0));
add('lowlevel', 'tcp_keepidle', INT(0));
add('lowlevel', 'tcp_keepintvl', INT(0));
add('lowlevel', 'tcp_user_timeout', INT(0));
add('lowlevel', 'dns_max_ttl', SECS);

export const SETTINGS: readonly SettingDef[] = defs;
export const SETTINGS_BY_KEY: ReadonlyMap<string, SettingDef> = new Map(defs.map((d) => [d.key, d]));
export const SETTING_KEYS: readonly string[] = defs.map((d) => d.key);

/** Keys a RELOAD cannot change: a change to any of them means a restart. */
export const RESTART_KEYS: ReadonlySet<string> = new Set(defs.filter((d) => !d.reloadable).map((d) => d.key));

/** The newest pgbouncer release (major.minor) whose settings the catalogue was checked against. */
export const NEWEST_KNOWN = '1.25';

/** The oldest pgbouncer we render for; older ones lack settings and fixes we rely on. */
export const OLDEST_SUPPORTED = '1.15';
