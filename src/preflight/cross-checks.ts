import { poolBudget } from '../profile/pool-budget.js';
import type { ResolvedConfig } from '../profile/types.js';

interface CheckResult {
  errors: string[];
  warnings: string[];
}

type Rule = (c: ResolvedConfig, out: CheckResult) => void;

function value(c: ResolvedConfig, key: string): unknown {
  return c.settings.find((s) => s.key === key)?.value;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

const scramNeedsScramSecrets: Rule = (c, out) => {
  if (value(c, 'auth_type') === 'scram-sha-256' && c.profile.userlist.method === 'md5') {
    out.errors.push(
      'userlist.method: md5 secrets cannot log in with auth_type scram-sha-256 (pgbouncer: "user has MD5 secret"); use userlist.method=scram-sha-256 or auth_type=md5',
    );
  }
};

const authTypeNeedsItsFiles: Rule = (c, out) => {
  const auth = value(c, 'auth_type');
  if (auth === 'hba' && value(c, 'auth_hba_file') === undefined) {
    out.errors.push('pgbouncer.auth_hba_file: auth_type hba needs an auth_hba_file; set it or choose another auth_type');
  }
  if ((auth === 'md5' || auth === 'scram-sha-256' || auth === 'plain') && value(c, 'auth_file') === undefined && value(c, 'auth_user') === undefined) {
    out.errors.push(`pgbouncer.auth_file: auth_type ${String(auth)} needs an auth_file (or auth_user with auth_query); set auth_file`);
  }
  if (auth === 'plain') out.warnings.push('pgbouncer.auth_type: plain is deprecated and sends passwords in clear text; use scram-sha-256');
  if (auth === 'trust' || auth === 'any') {
    out.warnings.push(`pgbouncer.auth_type: ${String(auth)} lets anyone who reaches the port in without a password`);
  }
};

const clientTlsNeedsKeyAndCert: Rule = (c, out) => {
  const mode = value(c, 'client_tls_sslmode');
  if (mode !== undefined && mode !== 'disable') {
    const missing = ['client_tls_key_file', 'client_tls_cert_file'].filter((k) => value(c, k) === undefined);
    if (missing.length > 0) {
      out.errors.push(`pgbouncer.client_tls_sslmode: ${String(mode)} needs ${missing.join(' and ')}; set them or use client_tls_sslmode=disable`);
    }
  }
  // pgbouncer refuses to start: "client_tls_sslmode requires client_tls_ca_file" (src/sbuf.c, 1.15-1.25).
  if (mode === 'verify-full' && value(c, 'client_tls_ca_file') === undefined && value(c, 'client_tls_key_file') !== undefined && value(c, 'client_tls_cert_file') !== undefined) {
    out.errors.push('pgbouncer.client_tls_ca_file: client_tls_sslmode verify-full checks client certificates and needs the CA that signed them; set client_tls_ca_file or use client_tls_sslmode=require');
  }
  const django = c.profile.django.sslmode;
  if (django && ['require', 'verify-ca', 'verify-full'].includes(django) && (mode === undefined || mode === 'disable')) {
    out.errors.push(
      `django.sslmode: ${django} cannot connect while pgbouncer.client_tls_sslmode is disable ("server does not support SSL"); enable client TLS with a key and cert, or use sslmode=prefer`,
    );
  }
  const server = value(c, 'server_tls_sslmode');
  if ((server === 'verify-ca' || server === 'verify-full') && value(c, 'server_tls_ca_file') === undefined) {
    out.errors.push(`pgbouncer.server_tls_ca_file: server_tls_sslmode ${server} needs the CA that signed PostgreSQL's certificate; set server_tls_ca_file`);
  }
};

const poolSizesConsistent: Rule = (c, out) => {
  const min = value(c, 'min_pool_size');
  const size = value(c, 'default_pool_size');
  if (typeof min === 'number' && typeof size === 'number' && size > 0 && min > size) {
    out.errors.push(`pgbouncer.min_pool_size: ${min} is above default_pool_size ${size}; lower it`);
  }
  const budget = poolBudget(c);
  for (const db of budget.databases) {
    if (db.cap > 0 && db.demand > db.cap) {
      out.errors.push(
        `pgbouncer.max_db_connections: the pools of database "${db.name}" can open ${db.demand} server connections (${db.pools} x (${db.poolSize} + reserve ${db.reservePoolSize})) but max_db_connections is ${db.cap}; raise max_db_connections or lower default_pool_size/reserve_pool_size`,
      );
    }
  }
  const maxConnections = c.profile.server.max_connections;
  if (maxConnections !== undefined) {
    const usable = maxConnections - c.profile.server.superuser_reserved_connections;
    if (budget.serverConnections > usable) {
      out.errors.push(
        `server.max_connections: pgbouncer may open ${budget.serverConnections} server connections but PostgreSQL allows ${usable} (max_connections ${maxConnections} - ${c.profile.server.superuser_reserved_connections} reserved); lower the pools or max_db_connections, or raise max_connections`,
      );
    }
  }
  const nofile = c.profile.host.nofile_limit;
  if (nofile !== undefined && budget.fdEstimate > nofile) {
    out.errors.push(
      `pgbouncer.max_client_conn: max_client_conn plus server connections needs about ${budget.fdEstimate} open files but the limit is ${nofile}; lower max_client_conn or raise the limit (LimitNOFILE / ulimit -n)`,
    );
  }
};

const portsDoNotCollide: Rule = (c, out) => {
  const port = value(c, 'listen_port');
  const host = c.profile.database.host;
  if (host && LOOPBACK.has(host) && port === c.profile.database.port) {
    out.errors.push(`pgbouncer.listen_port: ${String(port)} is PostgreSQL's own port on this host; use another (6432 is usual)`);
  }
};

const RULES: readonly Rule[] = [scramNeedsScramSecrets, authTypeNeedsItsFiles, clientTlsNeedsKeyAndCert, poolSizesConsistent, portsDoNotCollide];

export function crossCheck(config: ResolvedConfig): CheckResult {
  const out: CheckResult = { errors: [], warnings: [] };
  for (const rule of RULES) rule(config, out);
  return out;
}
