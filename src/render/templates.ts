import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import RuntimeModule from 'handlebars/runtime.js';
import { packagePath } from '../system/package-root.js';
import { PRECOMPILED } from './precompiled.js';

/** Compile options shared with the build's precompile step (scripts/build.mjs). */
export const COMPILE_OPTIONS = { strict: true, noEscape: true } as const;

type Template = (view: object) => string;
// The runtime's types are not published; it is the same object as the full build, minus the compiler.
const Runtime = RuntimeModule as unknown as { template(spec: unknown): Template };
const compiled = new Map<string, Template>();

function load(name: string): Template {
  const spec = PRECOMPILED?.[name];
  if (spec) return Runtime.template(spec);
  // Source tree (tests, development): compile templates/<name>.hbs now. The compiler is loaded
  // through require so the bundle, which always has the precompiled specs, does not carry it.
  const Handlebars = createRequire(import.meta.url)('handlebars') as typeof import('handlebars');
  return Handlebars.compile(readFileSync(packagePath('templates', `${name}.hbs`), 'utf8'), COMPILE_OPTIONS);
}

/**
 * Renders templates/<name>.hbs. strict: a missing field throws instead of rendering empty;
 * noEscape: these are config files, not HTML. Every value is validated before it gets here.
 */
export function renderTemplate(name: string, view: object): string {
  let template = compiled.get(name);
  if (!template) {
    template = load(name);
    compiled.set(name, template);
  }
  return template(view);
}
