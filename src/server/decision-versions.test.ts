import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../store/store.js';
import { openSqliteStore } from '../store/sqlite.js';
import { openPostgresStore } from '../store/postgres.js';
import { manualClock, turnsDuring } from '../store/contract.js';
import { postgresForFile } from '../test-support/postgres.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs } from './test-harness.js';
import { DecisionLog, canonicalJson } from './decisions.js';
import { ReferenceValueSets, keptPolicyVersion, keptReferenceValueSet, pruneDecisionVersions, referenceValueSetVersion } from './decision-versions.js';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const P1 = 'package policy\n\ndefault allow := false\n';
const P2 = 'package policy\n\ndefault allow := true\n';
const S1 = referenceValueSetVersion({ svn: ['1'] });
const S2 = referenceValueSetVersion({ svn: ['2'], launch_digest: ['abcde'] });

async function keys(store: Store): Promise<string[]> {
  return [...(await store.kv.keys('policy-version/')), ...(await store.kv.keys('rv-set/'))];
}

function pruneSuite(name: string, skip: false | string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`decision version retention on ${name}`, { skip }, () => {
    test('one row per distinct version; a version goes once no retained record names it and it is not current', async () => {
      const { store, close } = await open();
      try {
        const log = new DecisionLog(store);
        const att = (policyText: string, referenceValueSet: { hash: string; text: string }) =>
          log.record({ type: 'attestation', client: 'c', tee: 'sample', verdict: 'allow', policyId: 'default_cpu', policyText, referenceValueSet });
        await Promise.all([att(P1, S1), att(P1, S1), att(P1, S1)]);
        await att(P2, S2);
        assert.deepEqual((await keys(store)).sort(), [`policy-version/${sha(P1)}`, `policy-version/${sha(P2)}`, `rv-set/${S1.hash}`, `rv-set/${S2.hash}`].sort());
        assert.deepEqual(await keptReferenceValueSet(store, S1.hash), { state: 'kept', values: { svn: ['1'] } });
        assert.equal(S2.hash, sha(canonicalJson({ launch_digest: ['abcde'], svn: ['2'] })));

        const current = { referenceValueSet: async () => S2.hash };
        // Every version is named by a record: nothing goes.
        assert.deepEqual(await pruneDecisionVersions(store, current), { policies: 0, referenceValueSets: 0, keys: [] });
        // Retention leaves only the newest record (P2, S2): P1 and S1 go.
        assert.equal(await store.audit.retain({ keepNewest: 1 }), 3);
        const pruned = await pruneDecisionVersions(store, current);
        assert.deepEqual(pruned, { policies: 1, referenceValueSets: 1, keys: [`policy-version/${sha(P1)}`, `rv-set/${S1.hash}`] });
        assert.deepEqual((await keys(store)).sort(), [`policy-version/${sha(P2)}`, `rv-set/${S2.hash}`]);
        // No record left, but P2 is a stored policy and S2 the current set: both stay.
        await store.policies.put('resource', 'resource-policy', P2);
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 1);
        assert.deepEqual(await pruneDecisionVersions(store, current), { policies: 0, referenceValueSets: 0, keys: [] });
        // Neither current any more: they go too.
        await store.policies.put('resource', 'resource-policy', P1);
        const gone = await pruneDecisionVersions(store, { referenceValueSet: async () => S1.hash });
        assert.deepEqual([gone.policies, gone.referenceValueSets], [1, 1]);
        assert.deepEqual(await keys(store), []);
        // A version deleted is kept again by the next record naming it.
        await att(P2, S2);
        assert.deepEqual((await keys(store)).sort(), [`policy-version/${sha(P2)}`, `rv-set/${S2.hash}`]);
        // Other server state under other keys is never touched.
        await store.kv.put('signer/jwt', Buffer.from('k'));
        await store.audit.retain({ keepNewest: 0 });
        await pruneDecisionVersions(store, { referenceValueSet: async () => S1.hash });
        assert.deepEqual(await keys(store), []);
        assert.deepEqual(Buffer.from((await store.kv.get('signer/jwt'))!).toString(), 'k');
      } finally {
        await close();
      }
    });

    test('a record appended between the prune\'s last read of the log and its delete keeps the versions it names', async () => {
      const { store, close } = await open();
      try {
        const log = new DecisionLog(store);
        const att = () => log.record({ type: 'attestation', client: 'c', tee: 'sample', verdict: 'allow', policyId: 'default_cpu', policyText: P1, referenceValueSet: S1 });
        assert.ok(await att());
        // Retention drops the only record naming P1 and S1; neither is current.
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 1);
        let appended: number | undefined;
        const pruned = await pruneDecisionVersions(
          store,
          { referenceValueSet: async () => S2.hash },
          {
            // Runs once the prune has decided what to delete from every read of the log, before it deletes.
            beforeDelete: async (doomed) => {
              assert.deepEqual([...doomed].sort(), [`policy-version/${sha(P1)}`, `rv-set/${S1.hash}`]);
              appended = (await att())?.id;
            },
          },
        );
        assert.ok(appended !== undefined);
        assert.deepEqual(pruned, { policies: 0, referenceValueSets: 0, keys: [] });
        assert.deepEqual(await keptReferenceValueSet(store, S1.hash), { state: 'kept', values: { svn: ['1'] } });
        assert.deepEqual(await keptPolicyVersion(store, sha(P1)), { state: 'kept', text: P1 });
        // Once that record is gone too, the next prune deletes them.
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 1);
        assert.equal((await pruneDecisionVersions(store, { referenceValueSet: async () => S2.hash })).keys.length, 2);
      } finally {
        await close();
      }
    });

    test('the policy of every appraisal a record names is kept with it and pruned after it', async () => {
      const { store, close } = await open();
      try {
        const log = new DecisionLog(store);
        const d = await log.record({
          type: 'attestation',
          client: 'c',
          tee: 'sample',
          verdict: 'allow',
          policyId: 'default_cpu',
          policyText: P1,
          appraisalPolicies: { cpu0: { id: 'default_cpu', text: P1 }, gpu0: { id: 'default_gpu', text: P2 } },
          referenceValueSet: S1,
        });
        assert.deepEqual(d?.appraisal_policies, { cpu0: { id: 'default_cpu', hash: sha(P1) }, gpu0: { id: 'default_gpu', hash: sha(P2) } });
        assert.deepEqual(await keptPolicyVersion(store, sha(P2)), { state: 'kept', text: P2 });
        // Named by the record alone (its GPU appraisal): kept by the prune, and by the locked re-read too.
        const current = { referenceValueSet: async () => S1.hash };
        assert.deepEqual((await pruneDecisionVersions(store, current)).keys, []);
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 1);
        let again: number | undefined;
        const raced = await pruneDecisionVersions(store, current, { beforeDelete: async () => void (again = (await log.record({ type: 'attestation', client: 'c', tee: 'sample', verdict: 'allow', appraisalPolicies: { gpu0: { id: 'default_gpu', text: P2 } } }))?.id) });
        assert.ok(again !== undefined);
        assert.deepEqual(raced.keys, [`policy-version/${sha(P1)}`]);
        assert.deepEqual(await keptPolicyVersion(store, sha(P2)), { state: 'kept', text: P2 });
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 1);
        assert.deepEqual((await pruneDecisionVersions(store, current)).keys, [`policy-version/${sha(P2)}`]);
      } finally {
        await close();
      }
    });

    test('a writer that kept a version before a prune deleted it writes it again with its next record naming it', async () => {
      const { store, close } = await open();
      try {
        // Two writers on one store, as two processes would be; neither is told what the prune deleted.
        const a = new DecisionLog(store);
        const b = new DecisionLog(store);
        const att = (log: DecisionLog) => log.record({ type: 'attestation', client: 'c', tee: 'sample', verdict: 'allow', policyId: 'default_cpu', policyText: P1, referenceValueSet: S1 });
        assert.ok(await att(a));
        assert.ok(await att(b));
        assert.equal(await store.audit.retain({ keepNewest: 0 }), 2);
        assert.equal((await pruneDecisionVersions(store, { referenceValueSet: async () => S2.hash })).keys.length, 2);
        assert.deepEqual(await keys(store), []);
        const d = await att(b);
        assert.equal(d?.rv_set_hash, S1.hash);
        assert.deepEqual(await keptReferenceValueSet(store, S1.hash), { state: 'kept', values: { svn: ['1'] } });
        assert.deepEqual(await keptPolicyVersion(store, sha(P1)), { state: 'kept', text: P1 });
      } finally {
        await close();
      }
    });

    test('reading a log of thousands of records to prune lets the event loop turn between pages', async () => {
      const { store, close } = await open();
      try {
        const log = new DecisionLog(store);
        const records = 2600;
        await Promise.all(Array.from({ length: records }, (_, i) => log.record({ type: 'attestation', client: `c${i}`, tee: 'sample', verdict: 'allow', policyId: 'default_cpu', policyText: i === 0 ? P2 : P1 })));
        await store.kv.put(`policy-version/${sha('an old policy no record names')}`, utf8.encode('an old policy no record names'));
        const { result: pruned, turns } = await turnsDuring(() => pruneDecisionVersions(store));
        assert.deepEqual(pruned.keys, [`policy-version/${sha('an old policy no record names')}`]);
        assert.ok(turns >= Math.floor(records / 1000), `the loop turned ${turns} times during a scan of ${records} records`);
        assert.deepEqual((await keys(store)).sort(), [`policy-version/${sha(P1)}`, `policy-version/${sha(P2)}`].sort(), 'the versions records name are kept');
      } finally {
        await close();
      }
    });
  });
}

pruneSuite('SQLite', false, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-versions-'));
  const store = await openSqliteStore({ dataDir: dir, kek: new Uint8Array(32).fill(5) });
  return {
    store,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const pg = postgresForFile();
const pgSkip = pg.skip;
let schemas = 0;
pruneSuite('PostgreSQL', pgSkip, async () => {
  const url = await pg.cluster().createSchema(`versions${++schemas}`);
  const store = await openPostgresStore({ connectionString: url, kek: new Uint8Array(32).fill(5) });
  return { store, close: () => store.close() };
});

test('the reference-value set is read and hashed once, and again after a write through the tracked store or an expiry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-rvsets-'));
  const clock = manualClock();
  const base = await openSqliteStore({ dataDir: dir, kek: new Uint8Array(32).fill(6), now: clock.now });
  try {
    let lists = 0;
    const counted: Store = new Proxy(base, {
      get(t, prop) {
        if (prop === 'referenceValues') return { ...t.referenceValues, list: () => (lists++, t.referenceValues.list()) };
        const v: unknown = Reflect.get(t, prop, t);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const sets = new ReferenceValueSets({ clock: clock.now, cache: true });
    const store = sets.track(counted);
    await store.referenceValues.set('svn', ['1']);
    const a = await sets.snapshot();
    const b = await sets.snapshot();
    assert.equal(lists, 1);
    assert.equal(b, a);
    assert.deepEqual(a.values, { svn: ['1'] });
    assert.equal(a.version.hash, sha(canonicalJson({ svn: ['1'] })));
    // A write through the tracked store (directly, or in a transaction) drops the kept set.
    await store.referenceValues.set('svn', ['2']);
    assert.deepEqual((await sets.snapshot()).values, { svn: ['2'] });
    await store.transaction(async (tx) => tx.referenceValues.set('m', 5));
    const c = await sets.snapshot();
    assert.deepEqual(c.values, { m: 5, svn: ['2'] });
    assert.equal(lists, 3);
    // A value whose stated expiry comes due leaves the set then, without a write.
    const expires = new Date(clock.now().getTime() + 60_000).toISOString();
    await store.referenceValues.set('soon', ['x'], undefined, { expires });
    assert.deepEqual(Object.keys((await sets.snapshot()).values).sort(), ['m', 'soon', 'svn']);
    const before = lists;
    await sets.snapshot();
    assert.equal(lists, before);
    clock.advance(60_001);
    const d = await sets.snapshot();
    assert.deepEqual(Object.keys(d.values).sort(), ['m', 'svn']);
    assert.deepEqual(Object.keys(d.expired), ['soon']);
    assert.equal(d.version.hash, c.version.hash);
    // Without the cache (a store other processes write too) every snapshot reads the values.
    const shared = new ReferenceValueSets({ clock: clock.now, cache: false });
    shared.track(counted);
    const n = lists;
    await shared.snapshot();
    await shared.snapshot();
    assert.equal(lists, n + 2);
  } finally {
    await base.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a change feed the set is kept while the feed is live, and dropped on a reference-value write or a gap', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-rvsets-'));
  const base = await openSqliteStore({ dataDir: dir, kek: new Uint8Array(32).fill(8) });
  try {
    // The feed as a store sharing its database announces it: its listener, and whether it is listening.
    const listeners = new Set<(table?: string) => void>();
    const feed = {
      live: true,
      subscribe(l: (table?: string) => void) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    };
    const announce = (table?: string) => listeners.forEach((l) => l(table));
    const sets = new ReferenceValueSets({ cache: false, changes: feed });
    sets.track(base);
    // Written behind the tracked store's back, as another replica would.
    await base.referenceValues.set('svn', ['1']);
    const a = await sets.snapshot();
    assert.equal(await sets.snapshot(), a);
    await base.referenceValues.set('svn', ['2']);
    announce('policies');
    assert.equal(await sets.snapshot(), a, 'a write to another table keeps the set');
    announce('reference_values');
    const b = await sets.snapshot();
    assert.deepEqual(b.values, { svn: ['2'] });
    assert.equal(await sets.snapshot(), b);
    // While the feed is down nothing is kept, and what was kept is not served.
    feed.live = false;
    await base.referenceValues.set('svn', ['3']);
    const c = await sets.snapshot();
    assert.deepEqual(c.values, { svn: ['3'] });
    assert.notEqual(await sets.snapshot(), c);
    // Back up: a gap is announced with no table, and the set is read again.
    feed.live = true;
    await base.referenceValues.set('svn', ['4']);
    announce();
    const d = await sets.snapshot();
    assert.deepEqual(d.values, { svn: ['4'] });
    assert.equal(await sets.snapshot(), d);
  } finally {
    await base.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a kept set that is not a JSON object, or not valid for its name, is reported, never thrown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-rvsets-'));
  const store = await openSqliteStore({ dataDir: dir, kek: new Uint8Array(32).fill(7) });
  try {
    const arr = '[1,2]';
    await store.kv.put(`rv-set/${sha(arr)}`, Buffer.from(arr));
    assert.deepEqual(await keptReferenceValueSet(store, sha(arr)), { state: 'altered' });
    assert.deepEqual(await keptReferenceValueSet(store, 'not-a-hash'), { state: 'missing' });
    assert.deepEqual(await keptReferenceValueSet(store, 'f'.repeat(64)), { state: 'missing' });
    const bad = Buffer.from([0xff, 0xfe, 0x7b]);
    await store.kv.put(`rv-set/${'e'.repeat(64)}`, bad);
    assert.deepEqual(await keptReferenceValueSet(store, 'e'.repeat(64)), { state: 'altered' });
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the server prunes, with its audit retention, the policy versions no remaining decision names', async () => {
  const small = await startKbs((c) => {
    c.audit.max_rows = 3;
    c.audit.prune_interval_secs = 0.2;
  });
  try {
    const admin = new KbsAdminClient(small.url, { privateKeyPem: small.adminKeyPem });
    await admin.setResource('audit/key/secret', utf8.encode('v'));
    const A = 'package policy\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.submods.cpu0\n';
    const B = 'package policy\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.submods\n';
    await admin.setResourcePolicy(A);
    assert.equal(await new KbsClient(small.url, new SampleAttester()).getResourceText('audit/key/secret'), 'v');
    // Checked while A is the stored policy, which no prune deletes (a prune may run at any moment here).
    await small.kbs.decisions.flush();
    assert.ok(await small.kbs.store.kv.get(`policy-version/${sha(A)}`));
    await admin.setResourcePolicy(B);
    assert.equal(await new KbsClient(small.url, new SampleAttester()).getResourceText('audit/key/secret'), 'v');
    await small.kbs.decisions.flush();
    // Admin events push the decisions out of the newest three rows.
    for (let i = 0; i < 6; i++) await admin.setResource(`audit/key/k${i}`, utf8.encode('v'));
    const deadline = Date.now() + 5000;
    while ((await small.kbs.store.kv.get(`policy-version/${sha(A)}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await small.kbs.store.kv.get(`policy-version/${sha(A)}`), undefined);
    // B is the stored resource policy: kept although no decision names it any more; so is the current set.
    assert.ok(await small.kbs.store.kv.get(`policy-version/${sha(B)}`));
    assert.equal((await small.kbs.store.kv.keys('rv-set/')).length, 1);
    assert.match(small.logs.join(''), /decision versions pruned/);
  } finally {
    await small.stop();
  }
});
