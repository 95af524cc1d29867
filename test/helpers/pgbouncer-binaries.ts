/**
 * Locates (and if needed installs/builds) the binaries the real-system tests use:
 *  - PostgreSQL 15 server + client from Debian 12 (`postgresql-15`, `postgresql-client-15`),
 *  - pgbouncer 1.18 from Debian 12 (`/usr/sbin/pgbouncer`),
 *  - a newer pgbouncer (1.24.x) built from Debian 13 (trixie)'s source package by
 *    scripts/build-pgbouncer.sh and cached outside the repo in /var/cache/pgb-setup-test.
 *
 * Usable outside vitest (e.g. from a benchmark script). Everything is idempotent and fast when
 * already present.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, run } from './proc.js';

export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';
export const PGBOUNCER_118 = '/usr/sbin/pgbouncer';
export const CACHE_DIR = process.env.PGB_TEST_CACHE_DIR ?? '/var/cache/pgb-setup-test';
export const BUILD_SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/build-pgbouncer.sh');

const APT_PACKAGES = ['pgbouncer', 'postgresql-15', 'postgresql-client-15'] as const;

/** Paths that must exist for the suite; the packages that provide them. */
function requiredPaths(): string[] {
  return [PGBOUNCER_118, join(PG_BIN_DIR, 'initdb'), join(PG_BIN_DIR, 'pg_ctl'), join(PG_BIN_DIR, 'postgres'),
    join(PG_BIN_DIR, 'pgbench'), join(PG_BIN_DIR, 'psql')];
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let systemPackagesReady: Promise<void> | undefined;

/**
 * Makes sure pgbouncer 1.18 and PostgreSQL 15 (server, client, pgbench) are installed; if anything is
 * missing runs `apt-get update` once and `apt-get install -y --no-upgrade pgbouncer postgresql-15 postgresql-client-15`
 * (serialised across processes with flock). The Debian packages' postinst may create and start a
 * default `main` cluster / pgbouncer service; the tests never use those.
 */
export function ensureSystemPackages(): Promise<void> {
  systemPackagesReady ??= (async () => {
    const missing = requiredPaths().filter((p) => !isExecutable(p));
    if (missing.length === 0) return;
    if (!isRoot()) {
      throw new Error(`missing ${missing.join(', ')}; run the tests as root so they can apt-get install ${APT_PACKAGES.join(' ')}`);
    }
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
    // flock serialises concurrent callers; apt-get itself would fail on its lock instead of waiting.
    const script = [
      'set -e',
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get -o DPkg::Lock::Timeout=600 update',
      `apt-get -o DPkg::Lock::Timeout=600 install -y --no-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${APT_PACKAGES.join(' ')}`,
    ].join('\n');
    await run('flock', ['-w', '900', join(CACHE_DIR, '.apt.lock'), 'bash', '-c', script], {
      timeoutMs: 20 * 60_000,
    });
    const still = requiredPaths().filter((p) => !isExecutable(p));
    if (still.length) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
  })();
  systemPackagesReady.catch(() => {
    systemPackagesReady = undefined;
  });
  return systemPackagesReady;
}

/** `PgBouncer 1.18.0` → `1.18.0`. */
export async function pgbouncerVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['-V']);
  const m = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(stdout);
  if (!m?.[1]) throw new Error(`cannot parse the version printed by ${binary} -V: ${stdout}`);
  return m[1];
}

/** Installs packages if needed; returns the path of Debian 12's pgbouncer (1.18). */
export async function ensurePgbouncer118(): Promise<string> {
  await ensureSystemPackages();
  const v = await pgbouncerVersion(PGBOUNCER_118);
  if (!v.startsWith('1.18.')) {
    throw new Error(`${PGBOUNCER_118} is pgbouncer ${v}, expected 1.18.x (Debian 12's package)`);
  }
  return PGBOUNCER_118;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** Newest cached `<CACHE_DIR>/pgbouncer-<version>/pgbouncer` with version ≥ 1.24, or undefined. */
export function findCachedPgbouncerNew(): string | undefined {
  if (!existsSync(CACHE_DIR)) return undefined;
  const versions = readdirSync(CACHE_DIR)
    .map((n) => /^pgbouncer-(\d+\.\d+\.\d+)$/.exec(n)?.[1])
    .filter((v): v is string => !!v && compareVersions(v, '1.24.0') >= 0)
    .sort(compareVersions)
    .reverse();
  for (const v of versions) {
    const p = join(CACHE_DIR, `pgbouncer-${v}`, 'pgbouncer');
    if (isExecutable(p)) return p;
  }
  return undefined;
}

let newReady: Promise<string> | undefined;

/**
 * Returns the path of the newer pgbouncer (1.24.x from Debian 13's source package), building it
 * with scripts/build-pgbouncer.sh the first time (~10–15 s plus download; needs root and network).
 */
export function ensurePgbouncerNew(): Promise<string> {
  newReady ??= (async () => {
    await ensureSystemPackages();
    let bin = findCachedPgbouncerNew();
    if (!bin) {
      if (!existsSync(BUILD_SCRIPT)) throw new Error(`build script not found: ${BUILD_SCRIPT}`);
      const res = await run('bash', [BUILD_SCRIPT], {
        env: { PGB_TEST_CACHE_DIR: CACHE_DIR },
        timeoutMs: 20 * 60_000,
      });
      bin = res.stdout.trim().split('\n').pop();
      if (!bin || !isExecutable(bin)) {
        throw new Error(`build-pgbouncer.sh did not produce a binary\n${res.stderr}\n${res.stdout}`);
      }
    }
    const v = await pgbouncerVersion(bin);
    if (compareVersions(v, '1.24.0') < 0) throw new Error(`${bin} is pgbouncer ${v}, expected ≥ 1.24`);
    return bin;
  })();
  newReady.catch(() => {
    newReady = undefined;
  });
  return newReady;
}
