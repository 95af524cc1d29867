import { readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import { packagePath } from '../package-root.js';

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/**
 * Renders templates/<name>.hbs. strict: a missing field throws instead of rendering empty;
 * noEscape: these are config files, not HTML. Every value is validated before it gets here.
 */
export function renderTemplate(name: string, view: object): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(packagePath('templates', `${name}.hbs`), 'utf8');
    template = Handlebars.compile(source, { strict: true, noEscape: true });
    compiled.set(name, template);
  }
  return template(view);
}
