import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CocoError } from '../errors.js';
import { manualClock } from './contract.js';
import { withReadCache } from './read-cache.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './store.js';

async function withStores(fn: (db: Store, cached: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-readcache-'));
  const db = await openSqliteStore({ dataDir: dir, kek: randomBytes(32), now: manualClock().now });
  try {
    await fn(db, withReadCache(db));
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('policies are read from the store once, and again after a write through the cache', () =>
  withStores(async (db, cached) => {
    await cached.policies.put('resource', 'p', 'package policy\ndefault allow := false');
    assert.equal((await cached.policies.get('resource', 'p'))!.text, 'package policy\ndefault allow := false');
    assert.equal(await cached.policies.get('attestation', 'none'), undefined);
    // Written behind the cache's back: the cache still answers what it read (that is what it saves).
    await db.policies.put('resource', 'p', 'package policy\ndefault allow := true');
    await db.policies.put('attestation', 'none', 'package policy');
    assert.equal((await cached.policies.get('resource', 'p'))!.text, 'package policy\ndefault allow := false');
    assert.equal(await cached.policies.get('attestation', 'none'), undefined);
    // A write through it drops everything it held.
    await cached.policies.put('resource', 'other', 'package policy');
    assert.equal((await cached.policies.get('resource', 'p'))!.text, 'package policy\ndefault allow := true');
    assert.equal((await cached.policies.get('attestation', 'none'))!.text, 'package policy');
    assert.equal(await cached.policies.delete('resource', 'p'), true);
    assert.equal(await cached.policies.get('resource', 'p'), undefined);
    // Argument errors are still the store's.
    await assert.rejects(cached.policies.get('nope' as 'resource', 'p'), (e: unknown) => e instanceof CocoError && e.code === 'STORE_ARGUMENT');
  }));

test('reference values are listed once and served by name from the list until a write through the cache', () =>
  withStores(async (db, cached) => {
    await cached.referenceValues.set('b', ['2']);
    await cached.referenceValues.set('a', ['1']);
    assert.deepEqual((await cached.referenceValues.list()).map((r) => [r.name, r.value]), [['a', ['1']], ['b', ['2']]]);
    await db.referenceValues.set('a', ['changed']);
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['1']);
    // What a caller gets is its own record with its own dates; the value is shared and frozen, so no caller
    // can change what the next one reads.
    const got = (await cached.referenceValues.get('b'))!;
    assert.throws(() => (got.value as string[]).push('x'), TypeError);
    got.updatedAt.setTime(0);
    assert.deepEqual((await cached.referenceValues.get('b'))!.value, ['2']);
    assert.notEqual((await cached.referenceValues.get('b'))!.updatedAt.getTime(), 0);
    (await cached.referenceValues.list())[0].value = 'gone';
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['1']);
    // A name the listing lacks has no record: the answer comes from the listing, not from a query (a record
    // written behind the cache's back is not seen, like the change to "a" above), and impossible names are
    // refused as the store refuses them.
    assert.equal(await cached.referenceValues.get('c'), undefined);
    await db.referenceValues.set('c', ['3']);
    assert.equal(await cached.referenceValues.get('c'), undefined);
    await assert.rejects(cached.referenceValues.get(42 as unknown as string), (e: unknown) => e instanceof CocoError && e.code === 'STORE_ARGUMENT');
    await assert.rejects(cached.referenceValues.get(''), (e: unknown) => e instanceof CocoError && e.code === 'STORE_ARGUMENT');
    await assert.rejects(cached.referenceValues.get('x'.repeat(100_000)), (e: unknown) => e instanceof CocoError && e.code === 'STORE_TOO_LARGE');
    for (const bad of [42, '', 'x'.repeat(100_000)] as string[]) {
      const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (e: unknown) => (e as CocoError).code);
      assert.equal(await codeOf(cached.referenceValues.get(bad)), await codeOf(db.referenceValues.get(bad)));
    }
    await cached.referenceValues.delete('b');
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['changed']);
    assert.equal(await cached.referenceValues.get('b'), undefined);
    assert.deepEqual((await cached.referenceValues.get('c'))!.value, ['3']);
  }));

test('a transaction through the cache drops it, and a read that raced with a write does not cache the older value', () =>
  withStores(async (db, cached) => {
    await cached.referenceValues.set('a', ['1']);
    await cached.policies.put('resource', 'p', 'v1');
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['1']);
    await cached.transaction(async (tx) => {
      await tx.referenceValues.set('a', ['2']);
      await tx.policies.put('resource', 'p', 'v2');
    });
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['2']);
    assert.equal((await cached.policies.get('resource', 'p'))!.text, 'v2');
    // A read started before a write, finishing after it: its answer is returned but not kept.
    const read = cached.policies.get('resource', 'p');
    const list = cached.referenceValues.list();
    await Promise.all([cached.policies.put('resource', 'p', 'v3'), cached.referenceValues.set('a', ['3'])]);
    await read;
    await list;
    assert.equal((await cached.policies.get('resource', 'p'))!.text, 'v3');
    assert.deepEqual((await cached.referenceValues.get('a'))!.value, ['3']);
    // Everything else is the store's own.
    assert.equal(cached.backend, db.backend);
    await cached.resources.put({ repository: 'r', type: 't', tag: 'k' }, Buffer.from('v'));
    assert.deepEqual(Buffer.from((await db.resources.get({ repository: 'r', type: 't', tag: 'k' }))!), Buffer.from('v'));
  }));

test('a reference value written through the cache keeps its provenance', () =>
  withStores(async (db, cached) => {
    await cached.referenceValues.set('m', ['x'], undefined, { algorithm: 'test', version: 1 });
    assert.deepEqual((await db.referenceValues.get('m'))!.provenance, { algorithm: 'test', version: 1 });
    assert.deepEqual((await cached.referenceValues.get('m'))!.provenance, { algorithm: 'test', version: 1 });
  }));
