/**
 * The behaviour every `Store` adapter must show, as one node:test suite run against each adapter
 * (sqlite.test.ts, postgres.test.ts). An adapter is described by a harness that can make an empty backing
 * location, open a Store on it (several at once, as replicas do) and list the files that hold its data at rest.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import type { JsonValue, Store } from './store.js';

export interface StoreHarness {
  name: string;
  /** A skip reason, or false (see toolMissing). */
  skip: false | string;
  /** A fresh, empty backing location (a data directory, a database). */
  location(): Promise<string>;
  open(location: string, options?: { kek?: Uint8Array; now?: () => Date }): Promise<Store>;
  /** Every file holding this location's data at rest, after flushing what the backend buffers. */
  filesAtRest(location: string): Promise<string[]>;
}

/** A clock tests move by hand. */
export function manualClock(start = '2026-03-01T12:00:00.000Z'): { now: () => Date; advance(ms: number): void } {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

/**
 * How often the event loop turned while `work` ran: a ticker re-arms itself with setImmediate for as long as
 * the work is pending. Work that never yields to the loop (a SQLite store answers within the turn) leaves it at 0.
 */
export async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let ticking = true;
  const tick = (): void => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    ticking = false;
  }
}

export function listFilesRecursive(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...listFilesRecursive(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

function filesContaining(files: string[], needle: Uint8Array): string[] {
  const n = Buffer.from(needle);
  return files.filter((f) => readFileSync(f).includes(n));
}

async function rejectsWith(p: Promise<unknown>, code: string, kind?: string): Promise<CocoError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CocoError, `expected a CocoError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (kind !== undefined) assert.equal(e.kind, kind);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

const KEY = { repository: 'default', type: 'key', tag: 'k1' };
const MIN = 60_000;

export function storeContract(h: StoreHarness): void {
  describe(`Store contract: ${h.name}`, { skip: h.skip }, () => {
    const kek = new Uint8Array(randomBytes(32));
    const withStore = async (fn: (s: Store, clock: ReturnType<typeof manualClock>, loc: string) => Promise<void>) => {
      const loc = await h.location();
      const clock = manualClock();
      const s = await h.open(loc, { kek, now: clock.now });
      try {
        await fn(s, clock, loc);
      } finally {
        await s.close();
      }
    };

    // -- resources ---------------------------------------------------------------------------------------

    test('stores, replaces, lists and deletes resources without listing their values', () =>
      withStore(async (s, clock) => {
        assert.equal(await s.resources.get(KEY), undefined);
        await s.resources.put(KEY, Buffer.from('first'));
        clock.advance(1000);
        await s.resources.put(KEY, Buffer.from('second value'));
        await s.resources.put({ repository: 'default', type: 'cert', tag: 'a.pem' }, new Uint8Array(0));
        assert.deepEqual(Buffer.from((await s.resources.get(KEY))!).toString(), 'second value');
        assert.deepEqual((await s.resources.get({ repository: 'default', type: 'cert', tag: 'a.pem' }))!.length, 0);
        const list = await s.resources.list();
        assert.deepEqual(list, [
          { namespace: 'default', repository: 'default', type: 'cert', tag: 'a.pem', size: 0, updatedAt: new Date(Date.parse('2026-03-01T12:00:01.000Z')) },
          { namespace: 'default', repository: 'default', type: 'key', tag: 'k1', size: 12, updatedAt: new Date(Date.parse('2026-03-01T12:00:01.000Z')) },
        ]);
        assert.deepEqual((await s.resources.list({ type: 'key' })).map((r) => r.tag), ['k1']);
        // Code-unit order whatever the database collation: upper case before lower case, '-' before '_'.
        for (const tag of ['b', 'B', 'a_1', 'a-1', 'A']) await s.resources.put({ repository: 'order', type: 't', tag }, new Uint8Array(1));
        assert.deepEqual((await s.resources.list({ repository: 'order' })).map((r) => r.tag), ['A', 'B', 'a-1', 'a_1', 'b']);
        for (const tag of ['b', 'B', 'a_1', 'a-1', 'A']) await s.resources.delete({ repository: 'order', type: 't', tag });
        assert.equal(await s.resources.delete(KEY), true);
        assert.equal(await s.resources.delete(KEY), false);
        assert.equal(await s.resources.get(KEY), undefined);
      }));

    test('keeps namespaces apart', () =>
      withStore(async (s) => {
        await s.resources.put(KEY, Buffer.from('tenant default'));
        await s.resources.put({ ...KEY, namespace: 'tenant-b' }, Buffer.from('tenant b'));
        assert.equal(Buffer.from((await s.resources.get({ ...KEY, namespace: 'tenant-b' }))!).toString(), 'tenant b');
        assert.equal(Buffer.from((await s.resources.get({ ...KEY, namespace: 'default' }))!).toString(), 'tenant default');
        assert.deepEqual((await s.resources.list({ namespace: 'tenant-b' })).map((r) => r.namespace), ['tenant-b']);
        assert.equal(await s.resources.delete({ ...KEY, namespace: 'tenant-b' }), true);
        assert.ok(await s.resources.get(KEY));
      }));

    test('resources stay readable after close and reopen with the same key', async () => {
      const loc = await h.location();
      const secret = randomBytes(1000);
      const a = await h.open(loc, { kek });
      await a.resources.put(KEY, secret);
      await a.kv.put('signing-key', secret.subarray(0, 32));
      await a.close();
      const b = await h.open(loc, { kek });
      try {
        assert.deepEqual(Buffer.from((await b.resources.get(KEY))!), secret);
        assert.deepEqual(Buffer.from((await b.kv.get('signing-key'))!), secret.subarray(0, 32));
      } finally {
        await b.close();
      }
    });

    test('the data at rest holds no plaintext secret, session token or kv value', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const s = await h.open(loc, { kek, now: clock.now });
      const secret = randomBytes(48);
      const token = `eyJ-token-${randomBytes(16).toString('hex')}`;
      const kvValue = randomBytes(32);
      const tag = `visible-tag-${randomBytes(4).toString('hex')}`;
      try {
        await s.resources.put({ repository: 'r', type: 't', tag }, secret);
        await s.sessions.put({ id: 'sess-1', tee: 'snp', nonce: 'n', state: 'attested', token, createdAt: clock.now(), expiresAt: new Date(clock.now().getTime() + MIN) });
        await s.kv.put('token-signing-key', kvValue);
        const files = await h.filesAtRest(loc);
        assert.ok(files.length > 0);
        // The resource path is stored in clear: finding it proves the grep sees what was written.
        assert.notDeepEqual(filesContaining(files, Buffer.from(tag)), [], 'the resource tag should be visible at rest');
        assert.deepEqual(filesContaining(files, secret), []);
        assert.deepEqual(filesContaining(files, Buffer.from(token)), []);
        assert.deepEqual(filesContaining(files, kvValue), []);
      } finally {
        await s.close();
      }
    });

    test('opening with a different key-encryption key fails with STORE_KEK_MISMATCH', async () => {
      const loc = await h.location();
      const a = await h.open(loc, { kek });
      await a.resources.put(KEY, Buffer.from('secret'));
      await a.close();
      const other = new Uint8Array(randomBytes(32));
      const err = await rejectsWith(h.open(loc, { kek: other }), 'STORE_KEK_MISMATCH', 'crypto');
      assert.match(err.message, /fingerprint/);
      const again = await h.open(loc, { kek });
      assert.equal(Buffer.from((await again.resources.get(KEY))!).toString(), 'secret');
      await again.close();
    });

    test('rotating the key re-encrypts every secret; afterwards only the new key opens the store', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const next = new Uint8Array(randomBytes(32));
      try {
        await a.resources.put(KEY, Buffer.from('resource'));
        await a.resources.put({ ...KEY, namespace: 'other' }, Buffer.from('other resource'));
        await a.kv.put('k', Buffer.from('state'));
        await a.sessions.put({ id: 's', tee: 'snp', nonce: 'n', state: 'attested', token: 't', createdAt: clock.now(), expiresAt: new Date(clock.now().getTime() + MIN) });
        const r = await a.rotateKek(next);
        assert.deepEqual({ ...r, fingerprint: undefined }, { resources: 2, sessions: 1, kv: 1, fingerprint: undefined });
        assert.equal(Buffer.from((await a.resources.get(KEY))!).toString(), 'resource');
        await a.resources.put(KEY, Buffer.from('after rotation'));
      } finally {
        await a.close();
      }
      await rejectsWith(h.open(loc, { kek }), 'STORE_KEK_MISMATCH', 'crypto');
      const b = await h.open(loc, { kek: next, now: clock.now });
      try {
        assert.equal(Buffer.from((await b.resources.get(KEY))!).toString(), 'after rotation');
        assert.equal(Buffer.from((await b.resources.get({ ...KEY, namespace: 'other' }))!).toString(), 'other resource');
        assert.equal(Buffer.from((await b.kv.get('k'))!).toString(), 'state');
        assert.equal((await b.sessions.get('s'))!.token, 't');
        await rejectsWith(b.rotateKek(new Uint8Array(5)), 'STORE_KEK_FORMAT', 'usage');
        assert.equal(Buffer.from((await b.kv.get('k'))!).toString(), 'state');
      } finally {
        await b.close();
      }
    });

    test('rejects oversize values and malformed resource paths', () =>
      withStore(async (s) => {
        await rejectsWith(s.resources.put(KEY, new Uint8Array(16 * 1024 * 1024 + 1)), 'STORE_TOO_LARGE', 'limit');
        await rejectsWith(s.resources.put({ repository: '../etc', type: 'a', tag: 'b' }, Buffer.from('x')), 'STORE_ARGUMENT', 'input');
        await rejectsWith(s.resources.get({ repository: 'a', type: '.hidden', tag: 'b' }), 'STORE_ARGUMENT', 'input');
        await rejectsWith(s.resources.get({ repository: 'a', type: 'b', tag: '' }), 'STORE_ARGUMENT', 'input');
        await rejectsWith(s.resources.put({ ...KEY, namespace: 'a/b' }, Buffer.from('x')), 'STORE_ARGUMENT', 'input');
        await rejectsWith(s.resources.put(KEY, 'a string' as unknown as Uint8Array), 'STORE_ARGUMENT', 'input');
        await rejectsWith(s.resources.get(null as unknown as typeof KEY), 'STORE_ARGUMENT', 'input');
        assert.deepEqual(await s.resources.list(), []);
      }));

    // -- sessions ----------------------------------------------------------------------------------------

    test('sessions round-trip every field and are replaced by id', () =>
      withStore(async (s, clock) => {
        const createdAt = clock.now();
        const expiresAt = new Date(createdAt.getTime() + 5 * MIN);
        await s.sessions.put({ id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'authed', data: { 'extra-params': '' }, createdAt, expiresAt });
        assert.deepEqual(await s.sessions.get('a1'), { id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'authed', data: { 'extra-params': '' }, createdAt, expiresAt });
        const jwk = { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy' };
        await s.sessions.put({ id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'attested', teePubkey: jwk, token: 'tok', createdAt, expiresAt });
        assert.deepEqual(await s.sessions.get('a1'), { id: 'a1', tee: 'snp', nonce: 'bm9uY2U=', state: 'attested', teePubkey: jwk, token: 'tok', createdAt, expiresAt });
        assert.equal(await s.sessions.delete('a1'), true);
        assert.equal(await s.sessions.delete('a1'), false);
        assert.equal(await s.sessions.get('a1'), undefined);
      }));

    test('an expired session reads as absent and is deleted on access', () =>
      withStore(async (s, clock) => {
        const createdAt = clock.now();
        await s.sessions.put({ id: 'e1', tee: 'tdx', nonce: 'n', state: 'authed', createdAt, expiresAt: new Date(createdAt.getTime() + MIN) });
        clock.advance(MIN - 1);
        assert.ok(await s.sessions.get('e1'));
        clock.advance(1);
        assert.equal(await s.sessions.get('e1'), undefined);
        // Deleted on access: moving the clock back does not bring it back, and there is nothing left to sweep.
        assert.deepEqual(await s.sweepExpired(new Date(0)), { sessions: 0, nonces: 0 });
        assert.deepEqual(await s.sweepExpired(), { sessions: 0, nonces: 0 });
      }));

    test('sweepExpired removes expired sessions and nonces only', () =>
      withStore(async (s, clock) => {
        const t0 = clock.now().getTime();
        for (let i = 0; i < 3; i++) {
          await s.sessions.put({ id: `s${i}`, tee: 'sample', nonce: 'n', state: 'authed', createdAt: clock.now(), expiresAt: new Date(t0 + (i + 1) * MIN) });
          assert.equal(await s.nonces.consume(`n${i}`, new Date(t0 + (i + 1) * MIN)), true);
        }
        assert.deepEqual(await s.sweepExpired(new Date(t0 + 2 * MIN)), { sessions: 2, nonces: 2 });
        assert.ok(await s.sessions.get('s2'));
        assert.equal(await s.nonces.consume('n2', new Date(t0 + 3 * MIN)), false);
      }));

    test('sweepExpired deletes tens of thousands of expired nonces with the event loop turning in between', () =>
      withStore(async (s, clock) => {
        const t0 = clock.now().getTime();
        const expired = 12_007;
        const consumed = await Promise.all(Array.from({ length: expired + 3 }, (_, i) => s.nonces.consume(`bulk${i}`, new Date(t0 + (i < expired ? 1 : 5) * MIN))));
        assert.ok(consumed.every((c) => c));
        const { result: swept, turns } = await turnsDuring(() => s.sweepExpired(new Date(t0 + 2 * MIN)));
        assert.deepEqual(swept, { sessions: 0, nonces: expired });
        assert.ok(turns >= 2, `the event loop turned ${turns} times during the sweep`);
        assert.deepEqual(await s.sweepExpired(new Date(t0 + 2 * MIN)), { sessions: 0, nonces: 0 });
        assert.equal(await s.nonces.consume(`bulk${expired}`, new Date(t0 + 5 * MIN)), false, 'a nonce not yet expired is kept');
      }));

    test('rejects malformed sessions', () =>
      withStore(async (s, clock) => {
        const ok = { id: 'b', tee: 'snp', nonce: 'n', state: 'authed' as const, createdAt: clock.now(), expiresAt: clock.now() };
        await rejectsWith(s.sessions.put({ ...ok, state: 'pending' as 'authed' }), 'STORE_ARGUMENT');
        await rejectsWith(s.sessions.put({ ...ok, expiresAt: new Date('nope') }), 'STORE_ARGUMENT');
        await rejectsWith(s.sessions.put({ ...ok, id: 42 as unknown as string }), 'STORE_ARGUMENT');
        await rejectsWith(s.sessions.put({ ...ok, data: { f: () => 1 } as unknown as JsonValue }), 'STORE_ARGUMENT');
        // A Date would come back from JSON as a string: refused rather than silently changed.
        await rejectsWith(s.sessions.put({ ...ok, data: { when: new Date() } as unknown as JsonValue }), 'STORE_ARGUMENT');
        await rejectsWith(s.sessions.put({ ...ok, token: 'x'.repeat(2 * 1024 * 1024) }), 'STORE_TOO_LARGE', 'limit');
        await rejectsWith(s.sessions.get(undefined as unknown as string), 'STORE_ARGUMENT');
        // Cookie values no session could have are unknown sessions, not errors.
        assert.equal(await s.sessions.get(''), undefined);
        assert.equal(await s.sessions.get('x'.repeat(10_000)), undefined);
        assert.equal(await s.sessions.get('a\u0000b'), undefined);
        assert.equal(await s.sessions.delete('x'.repeat(10_000)), false);
      }));

    // -- nonces ------------------------------------------------------------------------------------------

    test('a nonce is accepted exactly once', () =>
      withStore(async (s, clock) => {
        const exp = new Date(clock.now().getTime() + MIN);
        assert.equal(await s.nonces.consume('eN4DxHaP66u4lZSiTfzPF69ztF3FtRoY3Zf6DGjdM60=', exp), true);
        assert.equal(await s.nonces.consume('eN4DxHaP66u4lZSiTfzPF69ztF3FtRoY3Zf6DGjdM60=', exp), false);
        assert.equal(await s.nonces.consume('eN4DxHaP66u4lZSiTfzPF69ztF3FtRoY3Zf6DGjdM61=', exp), true);
        // An SE nonce is a whole attestation-request JSON, far longer than a base64 nonce.
        const se = JSON.stringify({ request: 'A'.repeat(20_000) });
        assert.equal(await s.nonces.consume(se, exp), true);
        assert.equal(await s.nonces.consume(se, exp), false);
      }));

    test('a nonce whose expiry has passed is refused and not recorded', () =>
      withStore(async (s, clock) => {
        assert.equal(await s.nonces.consume('late', clock.now()), false);
        assert.equal(await s.nonces.consume('late', new Date(clock.now().getTime() + MIN)), true);
      }));

    test('a nonce is single-use across two store instances on one backing store', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const exp = new Date(clock.now().getTime() + MIN);
        assert.equal(await a.nonces.consume('shared', exp), true);
        assert.equal(await b.nonces.consume('shared', exp), false);
        assert.equal(await b.nonces.consume('other', exp), true);
        assert.equal(await a.nonces.consume('other', exp), false);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('concurrent consumes of the same nonces from two instances succeed once per nonce', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const exp = new Date(clock.now().getTime() + MIN);
        const nonces = Array.from({ length: 20 }, (_, i) => `race-${i}`);
        const attempts = nonces.flatMap((n) => [a, b, a, b].map((s) => s.nonces.consume(n, exp).then((ok) => ({ n, ok }))));
        const results = await Promise.all(attempts);
        for (const n of nonces) assert.equal(results.filter((r) => r.n === n && r.ok).length, 1, `nonce ${n}`);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('an attempt reads the session and spends the nonce it presents, once, across instances', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const createdAt = clock.now();
        const expiresAt = new Date(createdAt.getTime() + 2 * MIN);
        const authed = { id: 'at1', tee: 'sample', nonce: 'challenge-1', state: 'authed' as const, createdAt, expiresAt };
        await a.sessions.put(authed);
        // No session: nothing read, nothing spent.
        assert.deepEqual(await a.sessions.attempt('absent', 'challenge-1'), { session: undefined, fresh: false });
        // Two instances at once: both read the session, exactly one spends the nonce.
        const both = await Promise.all([a.sessions.attempt('at1', 'challenge-1'), b.sessions.attempt('at1', 'challenge-1')]);
        for (const r of both) assert.deepEqual(r.session, authed);
        assert.deepEqual(both.map((r) => r.fresh).sort(), [false, true]);
        assert.equal((await a.sessions.attempt('at1', 'challenge-1')).fresh, false);
        assert.equal(await b.nonces.consume('challenge-1', expiresAt), false, 'spent for consume too');
        assert.equal(await a.nonces.consume('absent-nonce', expiresAt), true, 'an attempt on no session spent nothing');
        // A nonce that is not the session's challenge: the session is read, and no record is left of it.
        await a.sessions.put({ ...authed, id: 'at3', nonce: 'challenge-4' });
        const wrong = await b.sessions.attempt('at3', 'not-the-challenge');
        assert.deepEqual(wrong, { session: { ...authed, id: 'at3', nonce: 'challenge-4' }, fresh: false });
        assert.equal(await a.nonces.consume('not-the-challenge', expiresAt), true, 'a wrong nonce leaves no record');
        assert.equal((await a.sessions.attempt('at3', 'challenge-4')).fresh, true, 'nor spends the session\'s own');
        // The nonce is recorded until the session expires, and swept after.
        assert.deepEqual(await a.sweepExpired(new Date(expiresAt.getTime() - 1)), { sessions: 0, nonces: 0 });
        // An attested session reads as such.
        const attested = { ...authed, state: 'attested' as const, token: 'tok', teePubkey: { kty: 'EC' } };
        await b.sessions.put(attested);
        assert.deepEqual((await a.sessions.attempt('at1', 'challenge-2')).session, attested);
        assert.deepEqual((await a.sessions.attempt('at1', 'challenge-2')).session, attested);
        // Expired: absent, deleted on the way, and nothing spent.
        await a.sessions.put({ ...authed, id: 'at2', nonce: 'challenge-3', expiresAt: new Date(createdAt.getTime() + MIN) });
        clock.advance(MIN);
        assert.deepEqual(await b.sessions.attempt('at2', 'challenge-3'), { session: undefined, fresh: false });
        assert.equal(await a.sessions.get('at2'), undefined);
        assert.equal(await a.nonces.consume('challenge-3', expiresAt), true);
        // Bad input: cookie values no session could have are unknown; a nonce that is no string is an error.
        assert.deepEqual(await a.sessions.attempt('x'.repeat(10_000), 'n'), { session: undefined, fresh: false });
        await rejectsWith(a.sessions.attempt('at1', 7 as unknown as string), 'STORE_ARGUMENT');
        await rejectsWith(a.sessions.attempt(undefined as unknown as string, 'n'), 'STORE_ARGUMENT');
        // A nonce no store could record is no session's challenge: the session is read, nothing is spent.
        for (const odd of ['', 'x'.repeat(2 * 1024 * 1024), 'a\u0000b']) assert.deepEqual(await b.sessions.attempt('at1', odd), { session: attested, fresh: false });
      } finally {
        await a.close();
        await b.close();
      }
    });

    // -- policies ----------------------------------------------------------------------------------------

    test('policies are kept per kind and id and listed without text', () =>
      withStore(async (s) => {
        await s.policies.put('attestation', 'default_cpu', 'package policy\ndefault allow := false\n');
        await s.policies.put('resource', 'resource-policy', 'package policy\nallow := true\n');
        await s.policies.put('attestation', 'a_first', 'package policy');
        assert.equal((await s.policies.get('attestation', 'default_cpu'))!.text, 'package policy\ndefault allow := false\n');
        assert.equal(await s.policies.get('resource', 'default_cpu'), undefined);
        assert.deepEqual((await s.policies.list('attestation')).map((p) => [p.id, p.size]), [['a_first', 14], ['default_cpu', 38]]);
        assert.deepEqual((await s.policies.list('resource')).map((p) => p.id), ['resource-policy']);
        await s.policies.put('attestation', 'a_first', 'package replaced');
        assert.equal((await s.policies.get('attestation', 'a_first'))!.text, 'package replaced');
        assert.equal(await s.policies.delete('attestation', 'a_first'), true);
        assert.equal(await s.policies.delete('attestation', 'a_first'), false);
        await rejectsWith(s.policies.put('bogus' as 'resource', 'x', 'y'), 'STORE_ARGUMENT');
        await rejectsWith(s.policies.put('resource', 'x', 7 as unknown as string), 'STORE_ARGUMENT');
      }));

    // -- reference values --------------------------------------------------------------------------------

    test('reference values keep any JSON value, scalars included, with an optional expiry', () =>
      withStore(async (s, clock) => {
        const exp = new Date(clock.now().getTime() + 365 * 24 * 60 * MIN);
        await s.referenceValues.set('snp_launch_measurement', ['a1b2', 'c3d4'], exp);
        await s.referenceValues.set('snp_bootloader', 10);
        await s.referenceValues.set('rvps:///ns/obj:tag', { nested: [true, null, 1.5] });
        assert.deepEqual(await s.referenceValues.get('snp_launch_measurement'), { name: 'snp_launch_measurement', value: ['a1b2', 'c3d4'], expiresAt: exp, updatedAt: clock.now() });
        assert.deepEqual((await s.referenceValues.get('snp_bootloader'))!.value, 10);
        assert.equal((await s.referenceValues.get('snp_bootloader'))!.expiresAt, undefined);
        assert.deepEqual((await s.referenceValues.list()).map((r) => r.name), ['rvps:///ns/obj:tag', 'snp_bootloader', 'snp_launch_measurement']);
        await s.referenceValues.set('snp_bootloader', [11]);
        assert.deepEqual((await s.referenceValues.get('snp_bootloader'))!.value, [11]);
        assert.equal(await s.referenceValues.delete('snp_bootloader'), true);
        assert.equal(await s.referenceValues.get('snp_bootloader'), undefined);
        // NUL characters and the text of their escape are ordinary JSON string content.
        await s.referenceValues.set('odd', ['a\u0000b', 'literal \\u0000', 'é😀']);
        assert.deepEqual((await s.referenceValues.get('odd'))!.value, ['a\u0000b', 'literal \\u0000', 'é😀']);
        await rejectsWith(s.referenceValues.set('x', undefined as unknown as JsonValue), 'STORE_ARGUMENT');
        await rejectsWith(s.referenceValues.set('x', Number.NaN), 'STORE_ARGUMENT');
        await rejectsWith(s.referenceValues.set('x', new Map() as unknown as JsonValue), 'STORE_ARGUMENT');
      }));

    test('a reference value keeps its provenance across close and reopen; an overwrite without one clears it', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const provenance = {
        algorithm: 'snp-launch-digest',
        parameters: { vcpus: 4, vmmType: 'QEMU' },
        inputs: { ovmf: 'ab'.repeat(32) },
        registered_by: 'role=admin sub=ops',
        registered_at: clock.now().toISOString(),
        version: 3,
        expires: '2027-03-01T00:00:00.000Z',
      };
      const a = await h.open(loc, { kek, now: clock.now });
      await a.referenceValues.set('snp_launch_measurement', ['cd'.repeat(48)], new Date('2027-03-01T00:00:00.000Z'), provenance);
      await a.referenceValues.set('bare', [1]);
      await a.close();
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const got = await b.referenceValues.get('snp_launch_measurement');
        assert.deepEqual(got, { name: 'snp_launch_measurement', value: ['cd'.repeat(48)], expiresAt: new Date('2027-03-01T00:00:00.000Z'), updatedAt: clock.now(), provenance });
        assert.equal((await b.referenceValues.get('bare'))!.provenance, undefined);
        assert.deepEqual((await b.referenceValues.list()).map((r) => [r.name, r.provenance !== undefined]), [['bare', false], ['snp_launch_measurement', true]]);
        await b.referenceValues.set('snp_launch_measurement', ['ef'.repeat(48)]);
        assert.equal((await b.referenceValues.get('snp_launch_measurement'))!.provenance, undefined);
        await rejectsWith(b.referenceValues.set('x', [1], undefined, Number.NaN), 'STORE_ARGUMENT');
      } finally {
        await b.close();
      }
    });

    // -- workloads ---------------------------------------------------------------------------------------

    test('workload versions count updates and guard concurrent writers', () =>
      withStore(async (s, clock) => {
        const w = { id: 'wl-1', namespace: 'wl-1', tee: 'snp', referenceValues: { measurement: ['aa'] }, policy: 'package p' };
        const v1 = await s.workloads.put(w, 0);
        assert.equal(v1.version, 1);
        await rejectsWith(s.workloads.put(w, 0), 'STORE_CONFLICT', 'conflict');
        clock.advance(1000);
        const v2 = await s.workloads.put({ ...w, policy: 'package q' }, 1);
        assert.deepEqual(v2, { ...w, policy: 'package q', version: 2, createdAt: v1.createdAt, updatedAt: clock.now() });
        await rejectsWith(s.workloads.put(w, 1), 'STORE_CONFLICT', 'conflict');
        assert.equal((await s.workloads.put(w)).version, 3);
        await s.workloads.put({ id: 'wl-0', tee: 'tdx', referenceValues: [], policy: '' });
        assert.deepEqual((await s.workloads.list()).map((x) => x.id), ['wl-0', 'wl-1']);
        assert.deepEqual((await s.workloads.list('wl-1')).map((x) => x.id), ['wl-1']);
        assert.equal((await s.workloads.get('wl-0'))!.namespace, 'default');
        assert.equal(await s.workloads.delete('wl-1'), true);
        assert.equal(await s.workloads.get('wl-1'), undefined);
        await rejectsWith(s.workloads.put({ ...w, referenceValues: undefined as unknown as JsonValue }), 'STORE_ARGUMENT');
        await rejectsWith(s.workloads.put(w, -1), 'STORE_ARGUMENT');
      }));

    test('resources page in list order with bounded pages; the cursor holds across writes between pages', () =>
      withStore(async (s) => {
        const tags = ['A', 'B', 'a-1', 'a_1', 'b', 'z.9', '0', 'Z'];
        for (const ns of ['default', 'tenant-a']) for (const repo of ['r1', 'R2']) for (const tag of tags) await s.resources.put({ namespace: ns, repository: repo, type: 't', tag }, new Uint8Array([1]));
        const all = await s.resources.list();
        const key = (r: { namespace: string; repository: string; type: string; tag: string }) => `${r.namespace}/${r.repository}/${r.type}/${r.tag}`;
        const walked: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const p = await s.resources.page({}, { limit: 5, ...(cursor ? { cursor } : {}) });
          assert.ok(p.items.length <= 5 && p.items.length > 0);
          walked.push(...p.items.map(key));
          cursor = p.next;
          pages++;
        } while (cursor);
        assert.deepEqual(walked, all.map(key));
        assert.equal(pages, Math.ceil(all.length / 5));
        assert.deepEqual((await s.resources.page({ namespace: 'tenant-a', repository: 'r1' }, { limit: 100 })).items.map((r) => r.tag), [...tags].sort());
        assert.equal((await s.resources.page({}, { limit: all.length })).next, undefined, 'an exactly full last page has no next');

        // Between pages: the item the cursor names is deleted, one is added before it and one after it.
        const first = await s.resources.page({ namespace: 'default', repository: 'R2' }, { limit: 3 });
        assert.deepEqual(first.items.map((r) => r.tag), ['0', 'A', 'B']);
        await s.resources.delete({ repository: 'R2', type: 't', tag: 'B' });
        await s.resources.put({ repository: 'R2', type: 't', tag: '1' }, new Uint8Array([2]));
        await s.resources.put({ repository: 'R2', type: 't', tag: 'Y' }, new Uint8Array([2]));
        const rest = await s.resources.page({ namespace: 'default', repository: 'R2' }, { limit: 100, cursor: first.next! });
        assert.deepEqual(rest.items.map((r) => r.tag), ['Y', 'Z', 'a-1', 'a_1', 'b', 'z.9']);
        assert.equal(rest.next, undefined);
        assert.equal((await s.resources.page({}, { limit: 1_000_000 })).items.length, Math.min(1000, all.length + 1), 'the limit is capped');
      }));

    test('workloads page by id; bad limits and cursors are input errors, never crashes', () =>
      withStore(async (s) => {
        for (const id of ['w-b', 'w-a', 'W-c', 'w-é', 'w-0']) await s.workloads.put({ id, namespace: 'ns', tee: 'snp', referenceValues: [], policy: '' });
        const ids: string[] = [];
        let cursor: string | undefined;
        do {
          const p = await s.workloads.page('ns', { limit: 2, ...(cursor ? { cursor } : {}) });
          assert.ok(p.items.length <= 2);
          ids.push(...p.items.map((w) => w.id));
          cursor = p.next;
        } while (cursor);
        // UTF-8 byte order on every backend.
        assert.deepEqual(ids, ['W-c', 'w-0', 'w-a', 'w-b', 'w-é']);
        assert.deepEqual((await s.workloads.page('other')).items, []);
        for (const limit of [0, -1, 1.5, '10', null]) await rejectsWith(s.resources.page({}, { limit: limit as number }), 'STORE_ARGUMENT', 'input');
        const other = (await s.resources.page({}, { limit: 1 })).next;
        for (const cursor of ['', '!!', 'e30', Buffer.from('["a"]').toString('base64url'), Buffer.from('[1,2,3,4]').toString('base64url'), 'A'.repeat(10_000)]) {
          await rejectsWith(s.resources.page({}, { cursor }), 'STORE_CURSOR', 'input');
        }
        if (other !== undefined) await rejectsWith(s.workloads.page(undefined, { cursor: other }), 'STORE_CURSOR', 'input');
        await fc.assert(
          fc.asyncProperty(fc.oneof(fc.string(), fc.base64String(), fc.json().map((j) => Buffer.from(j).toString('base64url'))), async (cursor) => {
            try {
              await s.resources.page({}, { cursor, limit: 3 });
            } catch (e) {
              assert.ok(e instanceof CocoError && e.kind === 'input', String(e));
            }
          }),
          { numRuns: 60 },
        );
      }));

    test('two instances updating a workload from the same version: exactly one wins', async () => {
      const loc = await h.location();
      const a = await h.open(loc, { kek });
      const b = await h.open(loc, { kek });
      try {
        const w = { id: 'wl', tee: 'snp', referenceValues: [], policy: 'p' };
        await a.workloads.put(w, 0);
        const results = await Promise.allSettled([a.workloads.put({ ...w, policy: 'a' }, 1), b.workloads.put({ ...w, policy: 'b' }, 1)]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.equal((rejected.reason as CocoError).code, 'STORE_CONFLICT');
        assert.equal((await b.workloads.get('wl'))!.version, 2);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('a transaction commits every write together, and a throw inside it leaves none', () =>
      withStore(async (s) => {
        const w = { id: 'wl-tx', namespace: 'tx', tee: 'snp', referenceValues: {}, policy: 'p' };
        const key = { namespace: 'tx', repository: 'workload', type: 'wl-tx', tag: 'secret' };
        const boom = new CocoError('TEST_ABORT', 'abort half-way', { kind: 'input' });
        await rejectsWith(
          s.transaction(async (tx) => {
            await tx.workloads.put(w, 0);
            await tx.resources.put(key, new Uint8Array([1, 2, 3]));
            await tx.audit.append({ kind: 'test.tx', subject: 'wl-tx', outcome: 'ok' });
            throw boom;
          }),
          'TEST_ABORT',
        );
        assert.equal(await s.workloads.get('wl-tx'), undefined);
        assert.equal(await s.resources.get(key), undefined);
        assert.deepEqual(await s.audit.list({ kind: 'test.tx' }), []);
        const version = await s.transaction(async (tx) => {
          const rec = await tx.workloads.put(w, 0);
          await tx.resources.put(key, new Uint8Array([4]));
          // Reads inside see the transaction's own writes.
          assert.deepEqual(await tx.resources.get(key), new Uint8Array([4]));
          return rec.version;
        });
        assert.equal(version, 1);
        assert.deepEqual(await s.resources.get(key), new Uint8Array([4]));
        // A store-level conflict inside rolls back the writes before it.
        await rejectsWith(
          s.transaction(async (tx) => {
            await tx.resources.delete(key);
            await tx.workloads.put(w, 0);
          }),
          'STORE_CONFLICT',
          'conflict',
        );
        assert.deepEqual(await s.resources.get(key), new Uint8Array([4]));
        await rejectsWith(
          s.transaction((tx) => (tx as Store).transaction(async () => undefined)),
          'STORE_NESTED_TRANSACTION',
        );
      }));

    // -- audit -------------------------------------------------------------------------------------------

    test('the audit log lists newest first with filters, limits and paging', () =>
      withStore(async (s, clock) => {
        const t0 = clock.now();
        const first = await s.audit.append({ kind: 'kbs.auth', subject: 'sess-1', outcome: 'ok', detail: { tee: 'snp' } });
        clock.advance(1000);
        await s.audit.append({ kind: 'kbs.attest', subject: 'sess-1', outcome: 'denied' });
        clock.advance(1000);
        await s.audit.append({ kind: 'kbs.resource.get', subject: 'default/key/k1', outcome: 'ok', time: new Date(t0.getTime() + 5000) });
        assert.deepEqual(first, { id: first.id, time: t0, kind: 'kbs.auth', subject: 'sess-1', outcome: 'ok', detail: { tee: 'snp' } });
        const all = await s.audit.list();
        assert.deepEqual(all.map((e) => e.kind), ['kbs.resource.get', 'kbs.attest', 'kbs.auth']);
        assert.ok(all[0].id > all[1].id && all[1].id > all[2].id);
        assert.equal(all[1].detail, null);
        assert.deepEqual((await s.audit.list({ subject: 'sess-1' })).map((e) => e.kind), ['kbs.attest', 'kbs.auth']);
        assert.deepEqual((await s.audit.list({ outcome: 'denied' })).map((e) => e.kind), ['kbs.attest']);
        assert.deepEqual((await s.audit.list({ kind: 'kbs.auth' })).length, 1);
        assert.deepEqual((await s.audit.list({ since: new Date(t0.getTime() + 1000) })).length, 2);
        assert.deepEqual((await s.audit.list({ limit: 1 })).map((e) => e.kind), ['kbs.resource.get']);
        assert.deepEqual((await s.audit.list({ beforeId: all[0].id, limit: 1 })).map((e) => e.kind), ['kbs.attest']);
        const empty = await s.audit.append({ kind: 'admin.reference-value.put', subject: '', outcome: 'ok' });
        assert.deepEqual((await s.audit.list({ subject: '' })).map((e) => e.id), [empty.id]);
        await rejectsWith(s.audit.list({ limit: 0 }), 'STORE_ARGUMENT');
        // Retention: events strictly older than the cut-off go.
        assert.equal(await s.audit.prune(new Date(t0.getTime() + 1000)), 1);
        assert.deepEqual((await s.audit.list()).map((e) => e.kind).sort(), ['admin.reference-value.put', 'kbs.attest', 'kbs.resource.get']);
        await rejectsWith(s.audit.prune('yesterday' as unknown as Date), 'STORE_ARGUMENT');
        await rejectsWith(s.audit.append({ kind: 'k', subject: 's', outcome: 'ok', detail: 'x'.repeat(70_000) }), 'STORE_TOO_LARGE', 'limit');
      }));

    test('chained audit events link to the head under the write lock, across instances; a failing link appends nothing', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const kind = 'kbs.chain-test';
        const ev = (seq: number, prev: number) => ({ time: clock.now(), subject: `s${seq}`, outcome: 'ok', detail: JSON.stringify({ seq, prev }) });
        const seqOf = (head: JsonValue | null) => (head === null ? 0 : (head as { seq: number }).seq);
        // Two instances (replicas) appending concurrently: every event names the one before it, none is skipped.
        const appends = Array.from({ length: 24 }, (_, i) =>
          (i % 2 === 0 ? a : b).audit.appendChain(kind, (head) => {
            const s = seqOf(head);
            return i % 3 === 0 ? [ev(s + 1, s), ev(s + 2, s + 1)] : [ev(s + 1, s)];
          }),
        );
        const ids = (await Promise.all(appends)).flat();
        assert.equal(ids.length, 32);
        for (const batch of await Promise.all(appends)) for (let j = 1; j < batch.length; j++) assert.ok(batch[j] > batch[j - 1], 'ids in the order of the rows');
        const chain = (await a.audit.list({ kind, limit: 100 })).reverse();
        assert.deepEqual(
          chain.map((e) => e.detail),
          chain.map((_, i) => ({ seq: i + 1, prev: i })),
        );
        assert.deepEqual(chain.map((e) => e.id).sort((x, y) => x - y), [...ids].sort((x, y) => x - y));
        // A throwing link and a malformed event abort the append and leave the chain and the store usable.
        for (let i = 0; i < 12; i++) {
          await assert.rejects(
            a.audit.appendChain(kind, () => {
              throw new Error('link failed');
            }),
            /link failed/,
          );
          await rejectsWith(b.audit.appendChain(kind, (head) => [ev(seqOf(head) + 1, seqOf(head)), { time: clock.now(), subject: 's', outcome: 'ok', detail: 7 as unknown as string }]), 'STORE_ARGUMENT');
        }
        await rejectsWith(a.audit.appendChain('admin.x', () => []), 'STORE_ARGUMENT');
        assert.deepEqual(await a.audit.appendChain(kind, () => []), []);
        const [next] = await b.audit.appendChain(kind, (head) => [ev(seqOf(head) + 1, seqOf(head))]);
        const newest = await a.audit.list({ kind, limit: 1 });
        assert.equal(newest[0].id, next);
        assert.deepEqual(newest[0].detail, { seq: 33, prev: 32 });
        // Sessions and nonces still go through after the failed appends (no connection left mid-transaction).
        assert.equal(await a.nonces.consume('after-chain', new Date(clock.now().getTime() + MIN)), true);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('a chain append writes the server state it names when missing; deleteUnchained keeps what a later event names', async () => {
      const loc = await h.location();
      const clock = manualClock();
      const a = await h.open(loc, { kek, now: clock.now });
      const b = await h.open(loc, { kek, now: clock.now });
      try {
        const kind = 'kbs.keep-test';
        const ev = (names: string[]) => ({ time: clock.now(), subject: 's', outcome: 'ok', detail: JSON.stringify({ names }) });
        const named = (d: JsonValue | null) => ((d as { names?: string[] } | null)?.names ?? []);
        let asked: string[] = [];
        const keep = (keys: string[]) => ({ keys, value: (k: string) => (asked.push(k), Buffer.from(`v:${k}`)) });
        await a.kv.put('ver/x', Buffer.from('old'));
        const [first] = await a.audit.appendChain(kind, () => [ev(['ver/x', 'ver/y'])], keep(['ver/x', 'ver/y', 'ver/y']));
        // Only the missing key is written; a key already there keeps its value.
        assert.deepEqual(asked, ['ver/y']);
        assert.equal(Buffer.from((await b.kv.get('ver/x'))!).toString(), 'old');
        assert.equal(Buffer.from((await b.kv.get('ver/y'))!).toString(), 'v:ver/y');
        // An append that appends nothing writes nothing.
        asked = [];
        assert.deepEqual(await a.audit.appendChain(kind, () => [], keep(['ver/z'])), []);
        assert.equal(await a.kv.get('ver/z'), undefined);
        // Events up to `first` do not count; a later one naming ver/y keeps it.
        await b.audit.appendChain(kind, () => [ev(['ver/y'])]);
        assert.deepEqual((await b.kv.deleteUnchained(['ver/x', 'ver/y', 'ver/absent'], { kind, afterId: first, named })).sort(), ['ver/x']);
        assert.equal(await a.kv.get('ver/x'), undefined);
        assert.ok(await a.kv.get('ver/y'));
        // The next append naming ver/x writes it again, through either instance.
        await b.audit.appendChain(kind, () => [ev(['ver/x'])], keep(['ver/x']));
        assert.equal(Buffer.from((await a.kv.get('ver/x'))!).toString(), 'v:ver/x');
        assert.deepEqual(await a.kv.deleteUnchained([], { kind, afterId: 0, named }), []);
        // Bad arguments are input errors; a throwing value function aborts the append with it.
        await rejectsWith(a.kv.deleteUnchained('ver/x' as unknown as string[], { kind, afterId: 0, named }), 'STORE_ARGUMENT');
        await rejectsWith(a.kv.deleteUnchained([7 as unknown as string], { kind, afterId: 0, named }), 'STORE_ARGUMENT');
        await rejectsWith(a.kv.deleteUnchained(['k'], { kind, afterId: 1.5, named }), 'STORE_ARGUMENT');
        await rejectsWith(a.kv.deleteUnchained(['k'], { kind, afterId: 0, named: 'x' } as unknown as Parameters<Store['kv']['deleteUnchained']>[1]), 'STORE_ARGUMENT');
        await rejectsWith(a.audit.appendChain(kind, () => [ev([])], { keys: 'k' } as unknown as Parameters<Store['audit']['appendChain']>[2]), 'STORE_ARGUMENT');
        await rejectsWith(a.audit.appendChain(kind, () => [ev([])], { keys: [''], value: () => new Uint8Array(1) }), 'STORE_ARGUMENT');
        const before = (await a.audit.list({ kind })).length;
        await assert.rejects(
          a.audit.appendChain(kind, () => [ev(['ver/w'])], {
            keys: ['ver/w'],
            value: () => {
              throw new Error('no value');
            },
          }),
          /no value/,
        );
        assert.equal((await a.audit.list({ kind })).length, before);
        assert.equal(await a.kv.get('ver/w'), undefined);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('audit retention deletes by age and beyond the newest N, in batches, and keeps the rest', () =>
      withStore(async (s, clock) => {
        const t0 = clock.now();
        for (let i = 0; i < 12; i++) {
          await s.audit.append({ kind: 'k', subject: `e${i}`, outcome: 'ok' });
          clock.advance(1000);
        }
        const subjects = async () => (await s.audit.list({ limit: 1000 })).map((e) => e.subject).reverse();
        assert.equal(await s.audit.retain({}), 0);
        // Age: e0..e2 are older than t0 + 3 s. Batches of 2 rows still delete every one of them.
        assert.equal(await s.audit.retain({ olderThan: new Date(t0.getTime() + 3000), batchRows: 2 }), 3);
        assert.deepEqual(await subjects(), ['e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11']);
        // Count: the newest 4 stay, in batches of 2.
        assert.equal(await s.audit.retain({ keepNewest: 4, batchRows: 2 }), 5);
        assert.deepEqual(await subjects(), ['e8', 'e9', 'e10', 'e11']);
        // Both at once: whichever bound is tighter wins; nothing left to cut is a no-op.
        assert.equal(await s.audit.retain({ olderThan: new Date(t0.getTime() + 10_000), keepNewest: 3 }), 2);
        assert.deepEqual(await subjects(), ['e10', 'e11']);
        assert.equal(await s.audit.retain({ keepNewest: 2 }), 0);
        assert.equal(await s.audit.retain({ keepNewest: 0 }), 2);
        assert.deepEqual(await subjects(), []);
        await s.reclaimSpace();
        await rejectsWith(s.audit.retain({ keepNewest: -1 }), 'STORE_ARGUMENT');
        await rejectsWith(s.audit.retain({ keepNewest: 1.5 }), 'STORE_ARGUMENT');
        await rejectsWith(s.audit.retain({ batchRows: 0, keepNewest: 1 }), 'STORE_ARGUMENT');
        await rejectsWith(s.audit.retain({ olderThan: 'old' as unknown as Date }), 'STORE_ARGUMENT');
        await rejectsWith(s.audit.retain(null as unknown as object), 'STORE_ARGUMENT');
      }));

    // -- kv ----------------------------------------------------------------------------------------------

    test('kv stores bytes and putIfAbsent keeps the first writer across instances', async () => {
      const loc = await h.location();
      const a = await h.open(loc, { kek });
      const b = await h.open(loc, { kek });
      try {
        assert.equal(await a.kv.get('jwt-key'), undefined);
        const ka = randomBytes(32);
        const kb = randomBytes(32);
        const [ra, rb] = await Promise.all([a.kv.putIfAbsent('jwt-key', ka), b.kv.putIfAbsent('jwt-key', kb)]);
        assert.deepEqual(Buffer.from(ra), Buffer.from(rb));
        assert.ok(Buffer.from(ra).equals(ka) || Buffer.from(ra).equals(kb));
        await a.kv.put('jwt-key', kb);
        assert.deepEqual(Buffer.from((await b.kv.get('jwt-key'))!), kb);
        assert.equal(await b.kv.delete('jwt-key'), true);
        assert.equal(await a.kv.get('jwt-key'), undefined);
        await rejectsWith(a.kv.put('big', new Uint8Array(1024 * 1024 + 1)), 'STORE_TOO_LARGE', 'limit');
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('kv lists the keys under a prefix, sorted, without values', () =>
      withStore(async (s) => {
        for (const k of ['v/b', 'v/a', 'v', 'w/a', 'v/\u00e9', 'V/x']) await s.kv.put(k, Buffer.from('x'));
        assert.deepEqual(await s.kv.keys('v/'), ['v/a', 'v/b', 'v/\u00e9']);
        assert.deepEqual(await s.kv.keys('v'), ['v', 'v/a', 'v/b', 'v/\u00e9']);
        assert.deepEqual(await s.kv.keys('%'), []);
        assert.deepEqual(await s.kv.keys('nothing/'), []);
        await rejectsWith(s.kv.keys(''), 'STORE_ARGUMENT');
        await rejectsWith(s.kv.keys(3 as unknown as string), 'STORE_ARGUMENT');
      }));

    // -- robustness --------------------------------------------------------------------------------------

    test('arbitrary wrong-typed arguments give a CocoError, never a crash', () =>
      withStore(async (s) => {
        const calls: ((x: any) => Promise<unknown>)[] = [
          (x) => s.resources.get(x),
          (x) => s.resources.put(KEY, x),
          (x) => s.resources.put({ repository: x, type: 't', tag: 'g' }, Buffer.from('v')),
          (x) => s.resources.list(x),
          (x) => s.sessions.get(x),
          (x) => s.sessions.put(x),
          (x) => s.nonces.consume(x, x),
          (x) => s.sessions.attempt(x, x),
          (x) => s.sessions.attempt('s', x),
          (x) => s.policies.put(x, x, x),
          (x) => s.referenceValues.set(x, undefined as unknown as JsonValue),
          (x) => s.workloads.put(x, x),
          (x) => s.audit.append(x),
          (x) => s.audit.list({ limit: x }),
          (x) => s.kv.put('k', x),
        ];
        const wrong = fc.oneof(fc.integer(), fc.constant(null), fc.constant(undefined), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }), fc.double(), fc.object({ maxDepth: 1 }));
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: calls.length - 1 }), wrong, async (i, x) => {
            try {
              await calls[i](x);
            } catch (e) {
              // inspect, not String(): fast-check generates objects whose toString is not a function.
              if (!(e instanceof CocoError)) assert.fail(`call ${i} with ${inspect(x)} threw ${inspect(e)}`);
            }
          }),
          { numRuns: 150 },
        );
      }));

    test('replicas opening an empty location at the same moment migrate it once and agree on the key check', async () => {
      const loc = await h.location();
      const stores = await Promise.all([h.open(loc, { kek }), h.open(loc, { kek }), h.open(loc, { kek })]);
      try {
        await stores[0].resources.put(KEY, Buffer.from('shared'));
        for (const s of stores) assert.equal(Buffer.from((await s.resources.get(KEY))!).toString(), 'shared');
      } finally {
        for (const s of stores) await s.close();
      }
    });

    test('a closed store refuses further calls with STORE_CLOSED', async () => {
      const s = await h.open(await h.location(), { kek });
      await s.close();
      await s.close();
      await rejectsWith(s.resources.get(KEY), 'STORE_CLOSED');
    });
  });
}
