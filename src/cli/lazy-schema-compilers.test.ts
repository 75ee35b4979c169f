/**
 * The bundle's stand-ins for fastify's schema compilers (scripts/lazy-schema-compilers.mjs): fastify bundled
 * with them starts without loading ajv or fast-json-stringify, and a route that does declare a schema still
 * has its body validated and its response serialized by them, loaded from node_modules on first use; so is
 * light-my-request, on the first `inject`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { REPO_ROOT } from '../test-support/vectors.js';

const ENTRY = `
import Fastify from 'fastify';
const compilers = () => Object.keys(require.cache).filter((k) => /[\\\\/](ajv|@fastify[\\\\/](ajv-compiler|fast-json-stringify-compiler)|fast-json-stringify)[\\\\/]/.test(k)).length;
const plain = Fastify();
plain.get('/plain', async () => ({ ok: true, n: 1 }));
await plain.ready();
const plainReply = await plain.inject({ method: 'GET', url: '/plain' });
const before = compilers();
const typed = Fastify();
typed.post('/typed', {
  schema: {
    body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
    response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
  },
}, async (req) => ({ n: req.body.n, dropped: 'not in the response schema' }));
await typed.ready();
const good = await typed.inject({ method: 'POST', url: '/typed', payload: { n: 7 } });
const bad = await typed.inject({ method: 'POST', url: '/typed', payload: { n: 'seven' } });
const injector = Object.keys(require.cache).filter((k) => /[\\\\/]light-my-request[\\\\/]/.test(k)).length;
console.log(JSON.stringify({ before, after: compilers(), injector, plain: [plainReply.statusCode, plainReply.body], good: [good.statusCode, good.body], bad: [bad.statusCode, JSON.parse(bad.body).code] }));
`;

test('fastify bundled with the lazy stand-ins loads the compilers only for a route schema, which still validates and serializes, and injects', async () => {
  const { lazySchemaCompilers } = (await import(pathToFileURL(join(REPO_ROOT, 'scripts/lazy-schema-compilers.mjs')).href)) as { lazySchemaCompilers: Plugin };
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-lazy-compilers-'));
  try {
    const out = join(dir, 'server.mjs');
    await build({
      stdin: { contents: ENTRY, resolveDir: REPO_ROOT, loader: 'js' },
      outfile: out,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20.17',
      preserveSymlinks: true,
      plugins: [lazySchemaCompilers],
      banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
      logLevel: 'error',
    });
    const text = readFileSync(out, 'utf8');
    assert.match(text, /^\/\/ node_modules\/fastify\/fastify\.js$/m, 'fastify itself is bundled');
    assert.doesNotMatch(text, /^\/\/ node_modules\/(ajv|@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|light-my-request)\//m, 'the compilers and light-my-request are not in the bundle');
    // Outside the package the stand-ins find fastify through NODE_PATH, as the bundle finds it in node_modules.
    const r = spawnSync(process.execPath, [out], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_PATH: join(REPO_ROOT, 'node_modules') } });
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { before: number; after: number; injector: number; plain: [number, string]; good: [number, string]; bad: [number, string] };
    // inject works, through light-my-request loaded on its first call.
    assert.deepEqual(res.plain, [200, '{"ok":true,"n":1}']);
    assert.ok(res.injector > 0, 'inject loads light-my-request from node_modules');
    assert.equal(res.before, 0, 'no compiler is loaded by a server without route schemas');
    assert.ok(res.after > 0, 'a route schema loads the compilers');
    // fast-json-stringify writes only what the response schema names; ajv refuses the string.
    assert.deepEqual(res.good, [200, '{"n":7}']);
    assert.deepEqual(res.bad, [400, 'FST_ERR_VALIDATION']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
