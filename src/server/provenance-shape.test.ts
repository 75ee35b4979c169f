/**
 * One provenance shape: an RVPS record and a workload registration show a signed statement's provenance alike
 * through the admin API (`inputs.statement`, `parameters.predicate_type` / `subjects`). Records stored in the
 * earlier RVPS shape (those members at the top level) are read into it, on SQLite and on PostgreSQL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envelope } from '../attestation/workload.js';
import { signAdminToken } from '../client/admin-client.js';
import { policyEvaluators } from '../policy/index.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { JsonValue, Store } from '../store/store.js';
import { postgresForFile } from '../test-support/postgres.js';
import { defaultConfig } from './config.js';
import { openKbs } from './kbs.js';
import { normalizeProvenance } from './reference-values.js';
import { safeKeyPair } from '../formats/keygen.js';

const STATEMENT = '5a'.repeat(32);
const SUBJECTS = [{ name: 'guest.efi', digest: { sha256: '0b'.repeat(32) } }];
const STAMP = { registered_by: 'role=admin sub=ops', registered_at: '2026-11-01T00:00:00.000Z', version: 2 };
/** A statement's provenance as RVPS records kept it before the one shape. */
const LEGACY = { algorithm: 'signed-statement', signer: 'key:sha256:' + '01'.repeat(32), statement_sha256: STATEMENT, predicate_type: 'https://cocokit.dev/expected-measurements/v1', subjects: SUBJECTS, components: ['kernel@6.8'], ...STAMP };
/** The one shape. */
const SHAPE = { algorithm: 'signed-statement', signer: LEGACY.signer, components: ['kernel@6.8'], parameters: { predicate_type: LEGACY.predicate_type, subjects: SUBJECTS }, inputs: { statement: STATEMENT }, ...STAMP };

test('normalizeProvenance moves the earlier members into parameters and inputs, and leaves an entry in shape alone', () => {
  assert.deepEqual(normalizeProvenance(LEGACY), SHAPE);
  assert.deepEqual(normalizeProvenance(SHAPE), SHAPE);
  const computed = { algorithm: 'snp-launch-digest', parameters: { vcpus: 4 }, inputs: { ovmf: 'aa'.repeat(32) } };
  assert.equal(normalizeProvenance(computed), computed);
  // Members beside existing parameters and inputs join them.
  assert.deepEqual(normalizeProvenance({ algorithm: 'x', parameters: { a: 1 }, inputs: { b: 'cc'.repeat(32) }, statement_sha256: STATEMENT }), { algorithm: 'x', parameters: { a: 1 }, inputs: { b: 'cc'.repeat(32), statement: STATEMENT } });
  for (const odd of [null, 7, 'x', [1], {}]) assert.deepEqual(normalizeProvenance(odd), odd);
});

/** Writes records in the earlier shape straight into the store, then reads them through a KBS on it. */
async function readsEarlierShape(store: Store): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-prov-'));
  try {
    await store.referenceValues.set('tpm_pcr11', ['ee'.repeat(32)], new Date(Date.now() + 86_400_000), LEGACY as unknown as JsonValue);
    const spec = { referenceValues: { tpm_pcr11: 'ee'.repeat(32) }, identify: ['init_data' as const], dialect: 'native' as const, provenance: { tpm_pcr11: LEGACY as unknown as JsonValue } };
    const wl = await store.workloads.put({ id: 'legacy-shape', namespace: 'tenant-p', tee: 'sample', referenceValues: envelope(spec), policy: 'package workload\n\ndefault allow := false\n' }, 0);
    const { privateKey, publicKey } = safeKeyPair('ed25519');
    writeFileSync(join(dir, 'admin.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    const config = defaultConfig();
    config.storage_backend.data_dir = dir;
    config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub.pem') }];
    config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
    const kbs = await openKbs({ config, store, ...policyEvaluators() });
    try {
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const get = async (url: string, ns?: string) => {
        const token = await signAdminToken(pem, 'admin', 300, new Date(), ns ? { namespace: ns } : {});
        const r = await kbs.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.statusCode, 200, r.body);
        return JSON.parse(r.body);
      };
      const record = await get('/kbs/v0/reference-value/tpm_pcr11?detail=true');
      assert.deepEqual(record.provenance, SHAPE);
      const [listed] = (await get('/kbs/v0/reference-value?detail=true')).filter((r: { name: string }) => r.name === 'tpm_pcr11');
      assert.deepEqual(listed.provenance, SHAPE);
      const workload = await get(`/kbs/v0/workloads/${wl.id}`, 'tenant-p');
      assert.deepEqual(workload.provenance, { tpm_pcr11: SHAPE });
      // The bare value is Trustee's answer, unchanged.
      assert.deepEqual(await get('/kbs/v0/reference-value/tpm_pcr11'), ['ee'.repeat(32)]);
    } finally {
      await kbs.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('records stored in the earlier shape read in the one shape on SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-prov-sqlite-'));
  const store = await openSqliteStore({ dataDir: dir });
  try {
    await readsEarlierShape(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const pg = postgresForFile();
const pgSkip = pg.skip;

test('records stored in the earlier shape read in the one shape on PostgreSQL', { skip: pgSkip, timeout: 120_000 }, async () => {
  const store = await openPostgresStore({ connectionString: await pg.cluster().createSchema('provenance_shape'), kek: new Uint8Array(32).fill(5) });
  try {
    await readsEarlierShape(store);
  } finally {
    await store.close();
  }
});
