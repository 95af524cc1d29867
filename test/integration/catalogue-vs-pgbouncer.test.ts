/**
 * The settings catalogue is checked against the real binaries: every key pgb-setup may emit must be
 * known to each pgbouncer at or after its `since` version, unknown before it, and a restart-only key
 * must be exactly what SHOW CONFIG reports as changeable = no.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/settings/catalogue.js';
import { versionAtLeast } from '../../src/settings/version.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { adminQuery, startPgbouncer, userlistLine, writeTestPgbouncerConfig, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

describe.each(pgbouncerBinaries())('catalogue against SHOW CONFIG of pgbouncer $label', ({ binary }) => {
  let dir: TempDir;
  let bouncer: RunningPgbouncer;
  let version: string;
  let config: Map<string, string>;

  beforeAll(async () => {
    version = (await pgbouncerVersion(binary)).match(/\d+\.\d+\.\d+/)![0];
    dir = await makeTempDir('catalogue', { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, {
      port: await freePort(),
      pgPort: 5432,
      dbname: 'x',
      authType: 'plain',
      adminUsers: ['admin'],
      userlist: [userlistLine('admin', 'pw')],
    });
    bouncer = await startPgbouncer({ binary, iniPath: cfg.iniPath });
    const rows = await adminQuery(bouncer, { user: 'admin', password: 'pw' }, 'SHOW CONFIG');
    config = new Map(rows.map((r) => [r['key']!, r['changeable']!]));
  });

  afterAll(async () => {
    await bouncer?.stop();
    await dir?.cleanup();
  });

  it('knows every key at or after its since-version, and none before', () => {
    const wrong = SETTINGS.filter((d) => config.has(d.key) !== versionAtLeast(version, d.since)).map((d) => `${d.key} (since ${d.since}, listed: ${config.has(d.key)})`);
    expect(wrong).toEqual([]);
  });

  it('marks exactly the restart-only keys as not changeable', () => {
    const wrong = SETTINGS.filter((d) => config.has(d.key) && (config.get(d.key) === 'yes') !== d.reloadable).map((d) => `${d.key} (catalogue: ${d.reloadable ? 'reload' : 'restart'}, SHOW CONFIG changeable: ${config.get(d.key)})`);
    expect(wrong).toEqual([]);
  });
});
