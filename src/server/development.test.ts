import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { KbsClient } from '../client/kbs-client.js';
import { KbsAdminClient } from '../client/admin-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { utf8 } from '../formats/bytes.js';
import { DEMO_RESOURCE, DEMO_SECRET, openDevelopmentKbs, writeAdminKeyPair } from './development.js';

test('openDevelopmentKbs() as the README shows it serves the demo secret to the sample TEE and admin calls with its key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-dev-'));
  try {
    const { kbs, adminKeyPath } = await openDevelopmentKbs({ dataDir: join(dir, 'data') });
    try {
      const url = await kbs.listen(0);
      assert.equal(await new KbsClient(url, new SampleAttester()).getResourceText(DEMO_RESOURCE), DEMO_SECRET);
      assert.ok(adminKeyPath && existsSync(adminKeyPath));
      const admin = new KbsAdminClient(url, { privateKeyPem: readFileSync(adminKeyPath, 'utf8') });
      await admin.setResource('default/key/1', utf8.encode('one'));
      assert.equal(await new KbsClient(url, new SampleAttester()).getResourceText('default/key/1'), 'one');
    } finally {
      await kbs.close();
    }
    // A second start keeps the store and the admin key.
    const again = await openDevelopmentKbs({ dataDir: join(dir, 'data') });
    try {
      assert.equal(again.adminKeyPath, adminKeyPath);
      const url = await again.kbs.listen(0);
      assert.equal(await new KbsClient(url, new SampleAttester()).getResourceText('default/key/1'), 'one');
    } finally {
      await again.kbs.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a data directory that cannot be created is an input error naming it, not an internal one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-dev-'));
  try {
    writeFileSync(join(dir, 'file'), 'x');
    await assert.rejects(openDevelopmentKbs({ dataDir: join(dir, 'file', 'data') }), (e: unknown) => e instanceof CocoError && e.kind !== 'internal' && e.message.includes(join(dir, 'file')));
    assert.throws(() => writeAdminKeyPair(join(dir, 'file'), 'ed25519'), (e: unknown) => e instanceof CocoError && e.kind === 'input');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an es256 admin key pair is a matching P-256 pair in PEM, private key 0600', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-dev-'));
  try {
    const { privatePath, publicPath } = writeAdminKeyPair(dir, 'es256');
    const priv = createPrivateKey(readFileSync(privatePath));
    const pub = createPublicKey(readFileSync(publicPath));
    assert.equal(priv.asymmetricKeyType, 'ec');
    assert.equal(priv.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const sig = sign('sha256', Buffer.from('admin'), priv);
    assert.equal(verify('sha256', Buffer.from('admin'), pub, sig), true);
    assert.equal(statSync(privatePath).mode & 0o777, 0o600);
    assert.throws(() => writeAdminKeyPair(dir, 'es256'), (e: unknown) => e instanceof CocoError && e.code === 'KBS_KEYGEN_EXISTS');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
