#!/usr/bin/env node
// Fails when a file in src/ imports from a layer above its own, across folders of the same layer,
// or through a cycle of files. Layers, top to bottom: main → cli → app → operations → stages →
// foundations. Usage: node scripts/check-layers.mjs [srcDir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Higher imports lower; equal ranks may not import each other (except within one folder). */
export const RANKS = {
  'main.ts': 12,
  cli: 11,
  app: 10,
  ops: 9,
  credentials: 9,
  apply: 8,
  plan: 7,
  preflight: 6,
  render: 5,
  facts: 4,
  profile: 3,
  system: 2,
  auth: 1,
  settings: 1,
  text: 0,
};

function listTs(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

export function importsOf(text) {
  const specs = [];
  for (const m of text.matchAll(IMPORT)) specs.push(m[1] ?? m[2]);
  return specs;
}

export function checkLayers(srcDir) {
  const root = resolve(srcDir);
  const files = listTs(root).filter((f) => !f.endsWith('.d.ts'));
  const problems = [];
  const layerOf = (file) => relative(root, file).split(sep)[0];
  const graph = new Map();
  for (const file of files) {
    const from = layerOf(file);
    const edges = [];
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      edges.push(target);
      const to = layerOf(target);
      if (from === to) continue;
      const rf = RANKS[from];
      const rt = RANKS[to];
      const where = `${relative(root, file)} imports ${relative(root, target)}`;
      if (rf === undefined) problems.push(`${where}: ${from} is not a known layer (add it to RANKS in scripts/check-layers.mjs)`);
      else if (rt === undefined) problems.push(`${where}: ${to} is not a known layer`);
      else if (rt > rf) problems.push(`${where}: ${from} may not import ${to}, a layer above it`);
      else if (rt === rf) problems.push(`${where}: ${from} and ${to} are side by side; move what both need below them`);
    }
    graph.set(file, edges);
  }
  problems.push(...cycles(graph).map((c) => `import cycle: ${c.map((f) => relative(root, f)).join(' -> ')}`));
  return problems;
}

/** Strongly connected components of more than one file (Tarjan). */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const meta = new Map();
  const found = [];
  const visit = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!meta.has(w)) {
        visit(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.reverse());
    }
  };
  for (const v of graph.keys()) if (!meta.has(v)) visit(v);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = checkLayers(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..', 'src'));
  for (const p of problems) process.stderr.write(`layers: ${p}\n`);
  if (problems.length > 0) {
    process.stderr.write(`layers: ${problems.length} import(s) point the wrong way\n`);
    process.exit(1);
  }
  process.stdout.write('layers: every import points down\n');
}
