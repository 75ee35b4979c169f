import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { postgresMissing, startPostgres, type PostgresCluster } from '../test-support/postgres.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { KbsClient } from '../client/kbs-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { defaultConfig } from './config.js';
import { openKbs, type Kbs } from './kbs.js';

const skip = postgresMissing();
let cluster: PostgresCluster | undefined;
let dir: string;
if (skip === false) {
  before(async () => {
    cluster = await startPostgres();
    dir = mkdtempSync(join(tmpdir(), 'cocokit-replicas-'));
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
}

test('two KBS replicas on one PostgreSQL database serve one handshake between them', { skip }, async () => {
  const url = await cluster!.createDatabase('replicas');
  writeFileSync(join(dir, 'kek'), randomBytes(32).toString('hex'));
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'admin.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend = { storage_type: 'postgres', postgres_url: url, data_dir: dir, kek_file: join(dir, 'kek') };
  config.attestation_service.allow_sample_tee = true;
  config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  const replicas: Kbs[] = [];
  try {
    for (let i = 0; i < 2; i++) replicas.push(await openKbs({ config, ...policyEvaluators() }));
    const [a, b] = await Promise.all(replicas.map((k) => k.listen(0, '127.0.0.1')));
    // Both replicas agreed on one token signer through the shared store.
    assert.deepEqual(replicas[0].signer.jwk, replicas[1].signer.jwk);
    await new KbsAdminClient(a, { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }).setResource('default/key/ha', utf8.encode('replicated'));
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
