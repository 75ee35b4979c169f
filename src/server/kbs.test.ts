import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs, type Harness } from './test-harness.js';

const harnesses: Harness[] = [];
after(async () => {
  for (const h of harnesses) await h.stop();
});

async function kbs(...args: Parameters<typeof startKbs>): Promise<Harness> {
  const h = await startKbs(...args);
  harnesses.push(h);
  return h;
}

test('a guest fetches a resource over loopback with every TEE key algorithm', async () => {
  const h = await kbs();
  const admin = new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem });
  await admin.setResource('default/key/one', utf8.encode('s3cret'));
  for (const alg of ['ec-p256', 'ec-p521', 'rsa'] as const) {
    const c = new KbsClient(h.url, new SampleAttester(), { teeKeyAlgorithm: alg });
    assert.equal(utf8.decode(await c.getResource('default/key/one')), 's3cret', alg);
  }
});
