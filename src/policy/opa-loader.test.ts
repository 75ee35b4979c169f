import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { Engine } from '../rego/index.js';
import { loadAsOpa, parseInput } from './index.js';

function layout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-opa-loader-'));
  mkdirSync(join(dir, 'policies', 'a', 'b'), { recursive: true });
  writeFileSync(join(dir, 'policies', 'p.rego'), 'package p\n\nallow if data.a.b.limit > count(input.items)\n');
  writeFileSync(join(dir, 'policies', 'a', 'b', 'x.json'), '{"limit": 3}');
  writeFileSync(join(dir, 'policies', 'a', 'b', 'notes.txt'), 'skipped inside a directory');
  return dir;
}

test('a directory is loaded as opa loads -d: data rooted at its path, a prefix moves it, other files skipped', () => {
  const dir = layout();
  try {
    const engine = new Engine();
    loadAsOpa(engine, { data: ['policies', 'cfg.extra:policies/a'], bundles: [], cwd: dir, version: 'v1' });
    engine.setInput(parseInput('items: [1, 2]', 'input.yaml'));
    const value = (q: string) => engine.evalQuery(q, 'v1').result[0]?.expressions[0]?.value;
    assert.equal(value('data.p.allow'), true);
    assert.deepEqual(value('data.cfg.extra.b'), { limit: 3 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what the loader refuses is a CocoError naming the path as given, every failing path reported together', () => {
  const dir = layout();
  try {
    writeFileSync(join(dir, 'policies', 'a', 'b', 'y.json'), '{"limit": 4}');
    writeFileSync(join(dir, 'broken.json'), '{"limit": ');
    const refused = (data: string[]) => {
      try {
        loadAsOpa(new Engine(), { data, bundles: [], cwd: dir, version: 'v1' });
      } catch (e) {
        assert.ok(e instanceof CocoError, String(e));
        return e.message;
      }
      assert.fail('loaded');
    };
    assert.match(refused(['policies']), /^policies\/a\/b\/y\.json: merge error$/);
    assert.match(refused(['absent']), /^cannot read absent: /);
    const both = refused(['absent', 'broken.json']);
    assert.match(both, /^2 errors occurred:\n/);
    assert.match(both, /cannot read absent/);
    assert.match(both, /broken\.json/);
    assert.throws(() => parseInput('{"a": ', 'in.json'), (e: unknown) => e instanceof CocoError && /^unable to parse input: in\.json: /.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
