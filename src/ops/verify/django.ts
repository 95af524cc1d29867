/** Django consistency: the server-side cursor reminder for transaction pooling, client TLS vs Django's sslmode. */
import { setting } from '../../profile/resolve.js';
import type { Check, Env } from './types.js';

// ---- Django consistency ---------------------------------------------------------------------

export async function checkDjango(env: Env): Promise<Check[]> {
  const { config, system, environment } = env;
  const checks: Check[] = [];
  const poolMode = String(setting(config, 'pool_mode') ?? 'session');
  if (poolMode === 'transaction' || poolMode === 'statement') {
    checks.push({
      id: 'django-cursors',
      title: 'Django: server-side cursors',
      status: 'note',
      detail: `pool_mode ${poolMode}: Django must set DISABLE_SERVER_SIDE_CURSORS = True for this database, or QuerySet.iterator() fails with "cursor does not exist"`,
      fix: `pgb-setup print-django-settings ${environment} emits it`,
    });
  } else {
    checks.push({ id: 'django-cursors', title: 'Django: server-side cursors', status: 'pass', detail: `pool_mode ${poolMode}: server-side cursors work` });
  }

  const clientTls = String(setting(config, 'client_tls_sslmode') ?? 'disable');
  const sslmode = config.profile.django.sslmode ?? 'prefer';
  const title = 'Django sslmode vs pgbouncer client TLS';
  const needsTls = ['require', 'verify-ca', 'verify-full'].includes(sslmode);
  if (needsTls && clientTls === 'disable') {
    checks.push({
      id: 'django-tls',
      title,
      status: 'fail',
      detail: `Django connects with sslmode=${sslmode} but pgbouncer offers no TLS to clients (client_tls_sslmode = disable): every connection fails with "server does not support SSL, but SSL was required"`,
      fix: 'set client_tls_sslmode = require with client_tls_key_file and client_tls_cert_file, or django.sslmode = prefer on a trusted network',
    });
    return checks;
  }
  if (clientTls !== 'disable') {
    const files = ['client_tls_key_file', 'client_tls_cert_file'].map((k) => [k, setting(config, k)] as const);
    const unset = files.filter(([, v]) => typeof v !== 'string' || v === '').map(([k]) => k);
    if (unset.length) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `client_tls_sslmode = ${clientTls} but ${unset.join(' and ')} ${unset.length === 1 ? 'is' : 'are'} not set: pgbouncer cannot offer TLS`, fix: `set ${unset.join(' and ')} (a key and certificate readable by the service user)` });
      return checks;
    }
    const missing: string[] = [];
    for (const [, v] of files) if (!(await system.exists(String(v)))) missing.push(String(v));
    if (missing.length) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist`, fix: 'create the key and certificate there, readable by the service user, then restart pgbouncer' });
      return checks;
    }
    if (sslmode === 'disable' && ['require', 'verify-ca', 'verify-full'].includes(clientTls)) {
      checks.push({ id: 'django-tls', title, status: 'fail', detail: `pgbouncer requires TLS from clients (client_tls_sslmode = ${clientTls}) but Django uses sslmode=disable`, fix: 'set django.sslmode = require (or verify-full with sslrootcert)' });
      return checks;
    }
  }
  checks.push({ id: 'django-tls', title, status: 'pass', detail: `Django sslmode=${sslmode}${config.profile.django.sslmode ? '' : ' (libpq default)'}, pgbouncer client_tls_sslmode = ${clientTls}: they agree` });
  return checks;
}
