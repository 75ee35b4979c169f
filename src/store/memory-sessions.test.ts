import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { manualClock } from './contract.js';
import { MemorySessionStore, withMemorySessions } from './memory-sessions.js';
import { openSqliteStore } from './sqlite.js';
import type { JsonValue, SessionRecord } from './store.js';

const MIN = 60_000;

async function rejectsWith(p: Promise<unknown>, code: string, kind?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof CocoError && e.code === code && (kind === undefined || e.kind === kind));
}

function session(id: string, now: Date, minutes = 5, extra: Partial<SessionRecord> = {}): SessionRecord {
  return { id, tee: 'sample', nonce: `nonce-${id}`, state: 'authed', createdAt: now, expiresAt: new Date(now.getTime() + minutes * MIN), ...extra };
}

test('memory sessions round-trip every field, are replaced by id and deleted', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ now: clock.now });
  const createdAt = clock.now();
  const expiresAt = new Date(createdAt.getTime() + 5 * MIN);
  await s.put({ id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'authed', data: { 'extra-params': '' }, createdAt, expiresAt });
  assert.deepEqual(await s.get('a1'), { id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'authed', data: { 'extra-params': '' }, createdAt, expiresAt });
  const jwk = { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy' };
  await s.put({ id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'attested', teePubkey: jwk, token: 'tok', createdAt, expiresAt });
  assert.deepEqual(await s.get('a1'), { id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'attested', teePubkey: jwk, token: 'tok', createdAt, expiresAt });
  assert.equal(s.size, 1);
  assert.equal(await s.delete('a1'), true);
  assert.equal(await s.delete('a1'), false);
  assert.equal(await s.get('a1'), undefined);
});

test('a memory session is a copy: changing what put was given or what get returned changes nothing stored', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ now: clock.now });
  const rec = session('c1', clock.now(), 5, { data: { list: [1, 2] } });
  await s.put(rec);
  ((rec.data as { list: number[] }).list).push(3);
  const got = (await s.get('c1'))!;
  assert.deepEqual(got.data, { list: [1, 2] });
  (got.data as { list: number[] }).list.push(4);
  got.expiresAt.setTime(0);
  assert.deepEqual((await s.get('c1'))!.data, { list: [1, 2] });
  assert.equal((await s.get('c1'))!.expiresAt.getTime(), clock.now().getTime() + 5 * MIN);
});

test('an expired memory session reads as absent and is deleted on access; sweep removes expired ones only', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ now: clock.now });
  await s.put(session('e1', clock.now(), 1));
  clock.advance(MIN - 1);
  assert.ok(await s.get('e1'));
  clock.advance(1);
  assert.equal(await s.get('e1'), undefined);
  assert.equal(s.size, 0, 'deleted on access');
  clock.advance(-MIN);
  assert.equal(await s.get('e1'), undefined, 'moving the clock back does not bring it back');

  const t0 = clock.now().getTime();
  for (let i = 0; i < 3; i++) await s.put(session(`s${i}`, clock.now(), i + 1));
  assert.equal(s.sweep(new Date(t0 + 2 * MIN)), 2);
  assert.equal(s.size, 1);
  assert.ok(await s.get('s2'));
  assert.equal(s.sweep(new Date(t0 + 2 * MIN)), 0);
});

test('the session count is bounded: a new session beyond it drops the expired ones first, else the oldest', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ maxSessions: 3, now: clock.now });
  await s.put(session('b', clock.now(), 10));
  await s.put(session('short', clock.now(), 1));
  await s.put(session('c', clock.now(), 10));
  clock.advance(2 * MIN);
  // Full: the expired session makes room, the live ones stay, the oldest (b) too.
  await s.put(session('d', clock.now(), 10));
  assert.equal(s.size, 3);
  assert.equal(await s.get('short'), undefined);
  for (const id of ['b', 'c', 'd']) assert.ok(await s.get(id), id);
  // Replacing a session that is held needs no room.
  await s.put(session('b', clock.now(), 10, { state: 'attested', token: 't' }));
  assert.equal(s.size, 3);
  assert.equal((await s.get('b'))!.state, 'attested');
  // Full of live sessions: the oldest one goes (b, whose replacement kept its place).
  await s.put(session('e', clock.now(), 10));
  assert.equal(s.size, 3);
  assert.equal(await s.get('b'), undefined);
  for (const id of ['c', 'd', 'e']) assert.ok(await s.get(id), id);
  // Many more never grow it past the bound.
  for (let i = 0; i < 1000; i++) await s.put(session(`f${i}`, clock.now(), 10));
  assert.equal(s.size, 3);
  // A table kept full by a flood is not scanned for expired sessions on every new one: at most once a second.
  class Counting extends MemorySessionStore {
    sweeps = 0;
    override sweep(now?: Date): number {
      this.sweeps++;
      return super.sweep(now);
    }
  }
  const full = new Counting({ maxSessions: 100, now: clock.now });
  for (let i = 0; i < 1000; i++) await full.put(session(`g${i}`, clock.now(), 10));
  assert.equal(full.size, 100);
  assert.equal(full.sweeps, 1);
  clock.advance(1000);
  for (let i = 0; i < 10; i++) await full.put(session(`h${i}`, clock.now(), 10));
  assert.equal(full.sweeps, 2);
  assert.ok(await full.get('h9'));
  assert.equal(await full.get('g900'), undefined);
  assert.throws(() => new MemorySessionStore({ maxSessions: 0 }), (e: unknown) => e instanceof CocoError && e.code === 'STORE_ARGUMENT');
});

test('malformed memory sessions are refused as the store refuses them; impossible ids are unknown sessions', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ now: clock.now });
  const ok = session('b', clock.now());
  await rejectsWith(s.put({ ...ok, state: 'pending' as 'authed' }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, expiresAt: new Date('nope') }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, id: 42 as unknown as string }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, id: '' }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, data: { f: () => 1 } as unknown as JsonValue }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, data: { when: new Date() } as unknown as JsonValue }), 'STORE_ARGUMENT');
  await rejectsWith(s.put({ ...ok, token: 'x'.repeat(2 * 1024 * 1024) }), 'STORE_TOO_LARGE', 'limit');
  await rejectsWith(s.put(null as unknown as SessionRecord), 'STORE_ARGUMENT');
  await rejectsWith(s.get(undefined as unknown as string), 'STORE_ARGUMENT');
  assert.equal(s.size, 0, 'nothing half-stored');
  assert.equal(await s.get(''), undefined);
  assert.equal(await s.get('x'.repeat(10_000)), undefined);
  assert.equal(await s.get('a\u0000b'), undefined);
  assert.equal(await s.delete('x'.repeat(10_000)), false);
});

test('random session records and ids give a session or a CocoError, never another exception', async () => {
  const clock = manualClock();
  const s = new MemorySessionStore({ maxSessions: 50, now: clock.now });
  await fc.assert(
    fc.asyncProperty(fc.anything(), fc.anything(), async (rec, id) => {
      for (const p of [s.put(rec as SessionRecord), s.get(id as string), s.delete(id as string)]) {
        try {
          await p;
        } catch (e) {
          assert.ok(e instanceof CocoError, `not a CocoError: ${String(e)}`);
        }
      }
    }),
    { numRuns: 300 },
  );
  assert.ok(s.size <= 50);
});

test('a store with memory sessions keeps them out of the database, sweeps both, and keeps nonces single-use in the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-memsess-'));
  const clock = manualClock();
  const kek = randomBytes(32);
  try {
    const db = await openSqliteStore({ dataDir: dir, kek, now: clock.now });
    const mem = new MemorySessionStore({ now: clock.now });
    const s = withMemorySessions(db, mem);
    try {
      await s.sessions.put(session('m1', clock.now(), 1, { token: 'tok' }));
      assert.equal((await s.sessions.get('m1'))!.token, 'tok');
      assert.equal(await db.sessions.get('m1'), undefined, 'not in the database');
      assert.equal(mem.size, 1);
      // Everything else is the database's own, private fields and all.
      await s.resources.put({ repository: 'r', type: 't', tag: 'k' }, Buffer.from('v'));
      assert.deepEqual(Buffer.from((await db.resources.get({ repository: 'r', type: 't', tag: 'k' }))!), Buffer.from('v'));
      assert.equal(s.backend, 'sqlite');
      // An attempt reads the session here and spends its nonce in the database, once.
      assert.deepEqual(await s.sessions.attempt('m1', 'nonce-m1'), { session: await s.sessions.get('m1'), fresh: true });
      assert.equal((await s.sessions.attempt('m1', 'nonce-m1')).fresh, false);
      assert.equal(await db.nonces.consume('nonce-m1', new Date(clock.now().getTime() + MIN)), false);
      assert.deepEqual(await s.sessions.attempt('none', 'nonce-none'), { session: undefined, fresh: false });
      assert.equal(await db.nonces.consume('nonce-none', new Date(clock.now().getTime() + MIN)), true, 'no session: nothing spent');
      assert.equal((await s.sessions.attempt('m1', '')).fresh, false);
      assert.equal((await s.sessions.attempt('m1', 'not-its-nonce')).fresh, false);
      assert.equal(await db.nonces.consume('not-its-nonce', new Date(clock.now().getTime() + MIN)), true, 'a wrong nonce leaves no record');
      await rejectsWith(s.sessions.attempt('m1', 7 as unknown as string), 'STORE_ARGUMENT');
      const exp = new Date(clock.now().getTime() + MIN);
      assert.equal(await s.nonces.consume('n1', exp), true);
      assert.equal(await s.nonces.consume('n1', exp), false);
      await db.sessions.put(session('d1', clock.now(), 1));
      clock.advance(2 * MIN);
      assert.deepEqual(await s.sweepExpired(), { sessions: 2, nonces: 4 });
      assert.equal(mem.size, 0);
      assert.equal(await s.nonces.consume('n3', new Date(clock.now().getTime() + 10 * MIN)), true);
    } finally {
      await s.close();
    }
    // A reopened store still refuses a consumed nonce: single use outlives the process's sessions.
    const again = await openSqliteStore({ dataDir: dir, kek, now: clock.now });
    try {
      assert.equal(await again.nonces.consume('n3', new Date(clock.now().getTime() + 10 * MIN)), false);
      assert.equal(await again.sessions.get('m1'), undefined);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
