/**
 * Runs generated Django settings with Debian's Python (/usr/bin/python3, not a pyenv shim on PATH).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function python(args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string } = {}): PyResult {
  const r = spawnSync(PYTHON, args, {
    cwd: opts.cwd,
    // A clean environment: only what the test passes (plus a PATH), so no DB*/PGBOUNCER_* leaks in.
    env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function withTempDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pgb-django-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `python3 -m py_compile` on the source; returns the compiler's complaint, or '' when it compiles. */
export function pyCompileError(source: string): string {
  return withTempDir((dir) => {
    const file = join(dir, 'settings_snippet.py');
    writeFileSync(file, source);
    const r = python(['-m', 'py_compile', file]);
    return r.code === 0 ? '' : `${r.stderr}${r.stdout}` || `exit ${r.code}`;
  });
}

/** True when the real django-environ is importable by /usr/bin/python3 (Debian's python3-django-environ). */
export function hasRealDjangoEnviron(): boolean {
  return python(['-c', 'import environ']).code === 0;
}

/**
 * Stand-in for django-environ when it is not installed: Env.str() as in django-environ 0.4.4 (what
 * Debian 12 ships), which returns the raw string from os.environ (no casting), or the default.
 */
const ENVIRON_STUB = `import os


class ImproperlyConfigured(Exception):
    pass


class Env(object):
    NOTSET = object()

    def str(self, var, default=NOTSET, multiline=False):
        try:
            value = os.environ[var]
        except KeyError:
            if default is Env.NOTSET:
                raise ImproperlyConfigured("Set the %s environment variable" % var)
            return default
        return str(value)
`;

export interface SnippetCase {
  /** Variables to set; every other DB... and PGBOUNCER_... variable is unset for the case. */
  env: Record<string, string>;
}

export type SnippetOutcome = { ok: true; default: Record<string, unknown>; pgbouncerEnabled?: boolean } | { ok: false; error: string };

/**
 * Imports the snippet once per case (importlib.reload under a fresh os.environ) in one Python
 * process and returns DATABASES["default"] (or the exception) for each case.
 */
export function execSnippet(source: string, cases: SnippetCase[], opts: { stubEnviron?: boolean } = {}): SnippetOutcome[] {
  return withTempDir((dir) => {
    writeFileSync(join(dir, 'settings_snippet.py'), source);
    if (opts.stubEnviron) writeFileSync(join(dir, 'environ.py'), ENVIRON_STUB);
    const driver = `
import importlib, json, os, sys
sys.path.insert(0, ${JSON.stringify(dir)})
NAMES = ["DBNAME", "DBUSER", "DBPASS", "DBHOST", "DBPORT", "PGBOUNCER_ENABLED", "PGBOUNCER_HOST", "PGBOUNCER_PORT"]
cases = json.loads(sys.stdin.read())
out = []
module = None
for case in cases:
    for name in NAMES:
        os.environ.pop(name, None)
    os.environ.update(case["env"])
    try:
        module = importlib.reload(module) if module else importlib.import_module("settings_snippet")
        out.append({"ok": True, "default": module.DATABASES["default"], "pgbouncerEnabled": getattr(module, "PGBOUNCER_ENABLED", None)})
    except Exception as e:
        out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        module = None
        sys.modules.pop("settings_snippet", None)
print(json.dumps(out))
`;
    const r = python(['-c', driver], { cwd: dir, input: JSON.stringify(cases) });
    if (r.code !== 0) throw new Error(`python failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as SnippetOutcome[];
  });
}
