import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { startKbs } from './test-harness.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

test('a resource set before a restart is served after it, and the data dir holds no plaintext secret', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-kbs-restart-'));
  const secret = 'restart-survivor-4f1c9a';
  const h = await startKbs(() => {}, { dataDir });
  try {
    await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).setResource('default/key/restart', utf8.encode(secret));
    const before = new KbsClient(h.url, new SampleAttester());
    const { token } = await before.attest();
    await h.restart();
    const after = new KbsClient(h.url, new SampleAttester());
    assert.equal(utf8.decode(await after.getResource('default/key/restart')), secret);
    // The signer key lives in the store, so a token issued before the restart still verifies.
    const r = await fetch(`${h.url}/kbs/v0/resource/default/key/restart`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, await r.clone().text());
    await h.kbs.close();
    for (const f of filesUnder(dataDir)) {
      const bytes = readFileSync(f);
      assert.ok(!bytes.includes(Buffer.from(secret)), `${f} contains the plaintext secret`);
      assert.ok(!bytes.includes(Buffer.from(secret, 'utf16le')), `${f} contains the plaintext secret (UTF-16)`);
    }
  } finally {
    await h.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
