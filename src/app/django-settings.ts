import type { Context } from '../system/context.js';
import { renderDjangoEnv, renderDjangoSettings, type DjangoEngine, type EnvStyle } from '../render/django-settings.js';
import { loadConfig, type ProfileOptions } from './load-config.js';
import { printWarnings } from '../text/output.js';
import { defaultEnvironment } from './default-environment.js';
import { parseTlsFlags, tlsLayer, tlsPaths, type TlsFlags } from '../profile/tls-layer.js';

interface PrintDjangoSettingsOptions extends ProfileOptions, TlsFlags {
  engine?: DjangoEngine;
  envStyle?: EnvStyle;
  format?: 'python' | 'env';
  direct?: boolean;
}

/**
 * `pgb-setup print-django-settings [environment]`: the DATABASES block for settings.py (or the
 * matching .env lines) on stdout; warnings on stderr. Reads no secret, writes nothing.
 */
export async function runPrintDjangoSettings(environment: string | undefined, opts: PrintDjangoSettingsOptions, ctx: Context): Promise<number> {
  // Both distribution families keep pgbouncer.ini in /etc/pgbouncer; the paths only feed the cross-checks here.
  const tls = tlsLayer(parseTlsFlags(opts), tlsPaths('/etc/pgbouncer/pgbouncer.ini'), opts.sslrootcert);
  const config = await loadConfig(environment ?? (await defaultEnvironment(ctx, 'print-django-settings')), opts, ctx, tls ? { tls } : {});
  const render = opts.format === 'env' ? renderDjangoEnv : renderDjangoSettings;
  const { text, warnings } = render(config, { engine: opts.engine, envStyle: opts.envStyle, direct: opts.direct });
  printWarnings([...config.warnings, ...warnings], ctx);
  ctx.stdout.write(text);
  return 0;
}
