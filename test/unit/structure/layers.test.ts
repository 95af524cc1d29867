import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkLayers } from '../../../scripts/check-layers.mjs';

const check = checkLayers as (srcDir: string) => string[];
const trees: string[] = [];

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'pgb-layers-'));
  trees.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

afterEach(() => {
  for (const t of trees.splice(0)) rmSync(t, { recursive: true, force: true });
});

describe('the direction check (scripts/check-layers.mjs)', () => {
  const base = {
    'main.ts': "import { buildProgram } from './cli/program.js';\n",
    'cli/program.ts': "export const buildProgram = () => import('../app/setup.js');\n",
    'app/setup.ts': "import { plan } from '../plan/build.js';\nimport type { Context } from '../system/context.js';\n",
    'plan/build.ts': "import { parse } from '../profile/layers.js';\nexport const plan = 1;\n",
    'profile/layers.ts': "import { EXIT } from '../text/errors.js';\nexport const parse = 1;\n",
    'system/context.ts': 'export interface Context { x: 1 }\n',
    'text/errors.ts': 'export const EXIT = 1;\n',
  };

  it('passes a tree whose imports all point down', () => {
    expect(check(tree(base))).toEqual([]);
  });

  it('fails a planted upward import, naming the file, the import and the layers', () => {
    const problems = check(tree({ ...base, 'text/errors.ts': "import { plan } from '../plan/build.js';\nexport const EXIT = 1;\n" }));
    expect(problems.some((p) => p.startsWith('text/errors.ts imports plan/build.ts: text may not import plan'))).toBe(true);
  });

  it('fails an upward type-only import and a dynamic import() the same way', () => {
    const typeOnly = check(tree({ ...base, 'system/context.ts': "import type { Thing } from '../app/setup.js';\nexport interface Context { x: 1 }\n" }));
    expect(typeOnly.some((p) => p.startsWith('system/context.ts imports app/setup.ts'))).toBe(true);
    const dynamic = check(tree({ ...base, 'profile/layers.ts': "export const parse = () => import('../cli/program.js');\n" }));
    expect(dynamic.some((p) => p.startsWith('profile/layers.ts imports cli/program.ts'))).toBe(true);
  });

  it('fails imports between side-by-side folders of one layer and cycles of files', () => {
    const sideways = check(tree({ ...base, 'ops/health.ts': "import { x } from '../credentials/reload.js';\n", 'credentials/reload.ts': 'export const x = 1;\n' }));
    expect(sideways.some((p) => p.includes('ops and credentials are side by side'))).toBe(true);
    const cycle = check(tree({ ...base, 'plan/a.ts': "import { b } from './b.js';\nexport const a = 1;\n", 'plan/b.ts': "import { a } from './a.js';\nexport const b = 1;\n" }));
    expect(cycle).toEqual(['import cycle: plan/a.ts -> plan/b.ts']);
  });

  it("pgb-setup's own src/ passes", () => {
    expect(check(join(import.meta.dirname, '../../../src'))).toEqual([]);
  });

  it('names a folder it does not know', () => {
    expect(check(tree({ ...base, 'misc/thing.ts': "import { EXIT } from '../text/errors.js';\n" }))[0]).toMatch(/misc is not a known layer/);
  });
});
