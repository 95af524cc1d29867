import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { COMPILE_OPTIONS } from '../../../src/render/templates.js';
import { envLayer, loadBuiltinProfile } from '../../../src/profile/layers.js';
import { DEBIAN_PATHS, hostDefaultsLayer } from '../../../src/profile/host-defaults.js';
import { resolveConfig } from '../../../src/profile/resolve.js';
import { databaseLines } from '../../../src/render/pgbouncer-ini.js';
import { formatSettingValue } from '../../../src/settings/values.js';

const TEMPLATES = join(import.meta.dirname, '../../../templates');

// The bundle renders from specs precompiled by scripts/build.mjs with Handlebars' runtime; the
// source tree compiles templates/*.hbs. Both must give the same bytes.
describe('precompiled templates (what the bundle uses) render like compiled ones (what the source tree uses)', () => {
  it('every template precompiles with the shared options', () => {
    const names = readdirSync(TEMPLATES).filter((f) => f.endsWith('.hbs'));
    expect(names.length).toBeGreaterThanOrEqual(5);
    for (const f of names) expect(() => Handlebars.precompile(readFileSync(join(TEMPLATES, f), 'utf8'), COMPILE_OPTIONS)).not.toThrow();
  });

  it('pgbouncer.ini is byte-identical both ways, and strict mode survives precompiling', () => {
    const config = resolveConfig('production', [hostDefaultsLayer(DEBIAN_PATHS), loadBuiltinProfile('production'), envLayer({ DBNAME: 'app', DBUSER: 'u', DBPASS: 'p', DBHOST: 'h' }, 'env')], { version: '1.24.0', source: 'test' });
    const view = {
      environment: 'production',
      targetVersion: '1.24.0',
      process: { id: 1, count: 2 },
      databases: databaseLines(config),
      peers: [{ id: 1, connection: 'host=/tmp/a port=6432' }],
      settings: config.settings.map((s) => ({ key: s.key, value: formatSettingValue(s.value) })),
    };
    const source = readFileSync(join(TEMPLATES, 'pgbouncer.ini.hbs'), 'utf8');
    const compiled = Handlebars.compile(source, COMPILE_OPTIONS);
    const spec = new Function(`return ${Handlebars.precompile(source, COMPILE_OPTIONS)}`)();
    const precompiled = Handlebars.template(spec);
    expect(precompiled(view)).toBe(compiled(view));
    const { environment: _missing, ...incomplete } = view;
    expect(() => compiled(incomplete)).toThrow(/"environment" not defined/);
    expect(() => precompiled(incomplete)).toThrow(/"environment" not defined/);
  });
});
