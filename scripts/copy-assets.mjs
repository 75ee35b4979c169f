#!/usr/bin/env node
// Copies the non-TypeScript files the modules read at run time (the built-in .rego policies) from src/ to
// dist/, keeping their relative paths, so the built package finds them beside the compiled modules.
// Usage: node scripts/copy-assets.mjs [srcDir] [outDir]
import { cpSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = process.argv[2] ?? join(root, 'src');
const out = process.argv[3] ?? join(root, 'dist');

function walk(dir, acc) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (name.endsWith('.rego')) acc.push(p);
  }
  return acc;
}

for (const file of walk(src, [])) {
  const target = join(out, relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  cpSync(file, target);
}
