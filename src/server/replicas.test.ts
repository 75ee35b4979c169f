import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postgresKbsForFile } from '../test-support/postgres-kbs.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { KbsClient } from '../client/kbs-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { openKbs, type Kbs } from './kbs.js';
import { keptReferenceValueSet } from './decision-versions.js';

const { skip, kbsConfig } = postgresKbsForFile('replicas');

/** Two KBS replicas on a fresh database of the cluster, with the admin key that signs in on both. */
async function twoReplicas(database: string): Promise<{ replicas: Kbs[]; urls: string[]; adminKeyPem: string }> {
  const { config, adminKeyPem } = await kbsConfig(database);
  const replicas: Kbs[] = [];
  try {
    for (let i = 0; i < 2; i++) replicas.push(await openKbs({ config, ...policyEvaluators() }));
    const urls = await Promise.all(replicas.map((k) => k.listen(0, '127.0.0.1')));
    return { replicas, urls, adminKeyPem };
  } catch (e) {
    for (const k of replicas) await k.close();
    throw e;
  }
}

test('two KBS replicas on one PostgreSQL database serve one handshake between them', { skip }, async () => {
  const { replicas, urls, adminKeyPem } = await twoReplicas('replicas');
  try {
    const [a, b] = urls;
    // Both replicas agreed on one token signer through the shared store.
    assert.deepEqual(replicas[0].signer.jwk, replicas[1].signer.jwk);
    await new KbsAdminClient(a, { privateKeyPem: adminKeyPem }).setResource('default/key/ha', utf8.encode('replicated'));
    const { token, cookie } = await new KbsClient(a, new SampleAttester()).attest();
    // The session made on replica A serves the resource on replica B, by cookie and by Bearer token.
    const byCookie = await fetch(`${b}/kbs/v0/resource/default/key/ha`, { headers: { cookie: `kbs-session-id=${cookie}` } });
    assert.equal(byCookie.status, 200, await byCookie.clone().text());
    const byToken = await fetch(`${b}/kbs/v0/resource/default/key/ha`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(byToken.status, 200);
    assert.equal(await new KbsClient(b, new SampleAttester()).getResourceText('default/key/ha'), 'replicated');
  } finally {
    for (const k of replicas) await k.close();
  }
});

test('a replica keeps the reference-value set and its hash until any replica writes a reference value', { skip }, async () => {
  const { replicas, urls, adminKeyPem } = await twoReplicas('replicas_rvsets');
  try {
    const [ka, kb] = replicas;
    const adminB = new KbsAdminClient(urls[1], { privateKeyPem: adminKeyPem });
    await adminB.setReferenceValues({ svn: ['1'] });
    // B's own write reached A by the change feed before A reads: poll until A sees it, then A keeps it.
    const seen = async (kbs: Kbs, test: (v: Record<string, unknown>) => boolean) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const s = await kbs.referenceValueSets.snapshot();
        if (test(s.values)) return s;
        if (Date.now() > deadline) assert.fail(`the replica still reads ${JSON.stringify(s.values)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const first = await seen(ka, (v) => JSON.stringify(v.svn) === '["1"]');
    assert.equal(await ka.referenceValueSets.snapshot(), first, 'the same set, not read and hashed again');
    await new KbsClient(urls[0], new SampleAttester()).attest();
    await ka.decisions.flush();
    const [r1] = await ka.store.audit.list({ kind: 'kbs.decision', limit: 1 });
    assert.equal((r1.detail as { rv_set_hash?: string }).rv_set_hash, first.version.hash);
    // A write on B drops A's set: A's next attestation names the new one, whose text is kept by its hash.
    await adminB.setReferenceValues({ svn: ['2'] });
    const second = await seen(ka, (v) => JSON.stringify(v.svn) === '["2"]');
    assert.notEqual(second.version.hash, first.version.hash);
    assert.equal(await ka.referenceValueSets.snapshot(), second);
    await new KbsClient(urls[0], new SampleAttester()).attest();
    await ka.decisions.flush();
    const [r2] = await ka.store.audit.list({ kind: 'kbs.decision', limit: 1 });
    assert.equal((r2.detail as { rv_set_hash?: string }).rv_set_hash, second.version.hash);
    assert.deepEqual(await keptReferenceValueSet(kb.store, second.version.hash), { state: 'kept', values: second.values });
  } finally {
    for (const k of replicas) await k.close();
  }
});
