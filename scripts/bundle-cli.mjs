#!/usr/bin/env node
// Bundles the `cocokit` command (src/cli/main.ts) into dist/cli/: an entry main.js and chunks beside it, one
// per lazily imported command group or server piece, so a command loads a handful of files instead of ~900
// modules. The library entry points stay tsc's per-module output in dist/; the CLI never imports them, so it
// only ever sees its own copy of each class (CocoError included).
//
// Files the modules read by path (built-in .rego policies, assets/, the verity hashing worker, the SQLite
// driver resolved for the checkpoint worker) are found relative to `import.meta.url`. In the bundle every
// module's `import.meta.url` is rewritten to the URL its own compiled file has in dist/, so those paths
// resolve exactly as in the per-module build (which is why the chunks sit in dist/cli/ beside the entry).
// Native and optional packages stay external. No source map: the package ships none (the code is not minified,
// so stack traces name the functions, and each module is headed by its source path).
//
// Usage: node scripts/bundle-cli.mjs   (after tsc and copy-assets; part of `npm run build`)
import { readFile, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { lazySchemaCompilers } from './lazy-schema-compilers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const out = join(root, 'dist', 'cli');

/** Packages loaded at run time from node_modules rather than bundled: native bindings and optional peers. */
const EXTERNAL = ['better-sqlite3', 'pg-native'];

const importMetaUrl = {
  name: 'dist-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const rel = relative(src, args.path);
      if (rel.startsWith('..') || !text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
      const compiled = join(root, 'dist', rel).replace(/\.ts$/, '.js');
      const href = `./${relative(out, compiled).split(sep).join('/')}`.replace(/^\.\/\.\.\//, '../');
      return { contents: text.replaceAll('import.meta.url', `(new URL(${JSON.stringify(href)}, import.meta.url).href)`), loader: 'ts' };
    });
  },
};

// tsc's per-module CLI files are not part of the package's API: the bundle replaces them.
await rm(out, { recursive: true, force: true });
await build({
  entryPoints: { main: join(src, 'cli', 'main.ts') },
  outdir: out,
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.17',
  external: EXTERNAL,
  // Module comments name node_modules/… paths, whatever node_modules links to.
  preserveSymlinks: true,
  plugins: [importMetaUrl, lazySchemaCompilers],
  // CommonJS packages inside an ES module bundle call `require` for Node's built-ins.
  banner: { js: "import { createRequire as __cocokitRequire } from 'node:module'; const require = __cocokitRequire(import.meta.url);" },
  logLevel: 'warning',
});
