import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { KbsAdminClient } from '../client/admin-client.js';
import { KbsClient } from '../client/kbs-client.js';
import { utf8 } from '../formats/bytes.js';
import { policyEvaluators } from '../policy/evaluators.js';
import { SQLITE_FILE, openSqliteStore } from '../store/sqlite.js';
import type { SessionStore, Store } from '../store/store.js';
import { CocoError } from '../errors.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { defaultConfig, type KbsConfig } from './config.js';
import { openKbs, type Kbs } from './kbs.js';
import { safeKeyPair } from '../formats/keygen.js';

function setup(): { dir: string; config: KbsConfig; adminKeyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-sessions-'));
  const { privateKey, publicKey } = safeKeyPair('ed25519');
  writeFileSync(join(dir, 'admin.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
  const config = defaultConfig();
  config.storage_backend.data_dir = join(dir, 'data');
  config.attestation_service.allow_sample_tee = true;
  config.admin.identity_providers = [{ public_key_uri: join(dir, 'admin.pub') }];
  config.admin.acls = [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.*$' }];
  return { dir, config, adminKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

function storedSessions(config: KbsConfig): number {
  const db = new Sqlite(join(config.storage_backend.data_dir, SQLITE_FILE), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const resource = (url: string, headers: Record<string, string>) => fetch(`${url}/kbs/v0/resource/default/key/s`, { headers });

test('a lone KBS on SQLite keeps sessions in its process: none reach the database, and a restart forgets them but not tokens', async () => {
  const { dir, config, adminKeyPem } = setup();
  let kbs: Kbs | undefined;
  try {
    kbs = await openKbs({ config, ...policyEvaluators() });
    const url = await kbs.listen(0, '127.0.0.1');
    await new KbsAdminClient(url, { privateKeyPem: adminKeyPem }).setResource('default/key/s', utf8.encode('in memory'));
    const guest = new KbsClient(url, new SampleAttester());
    assert.equal(await guest.getResourceText('default/key/s'), 'in memory');
    const { token, cookie } = await guest.attest();
    assert.equal((await resource(url, { cookie: `kbs-session-id=${cookie}` })).status, 200);
    assert.equal(storedSessions(config), 0, 'no session row in the database');
    await kbs.close();
    kbs = await openKbs({ config, ...policyEvaluators() });
    const url2 = await kbs.listen(0, '127.0.0.1');
    const byCookie = await resource(url2, { cookie: `kbs-session-id=${cookie}` });
    assert.equal(byCookie.status, 401, 'the session went with the process');
    assert.match(await byCookie.text(), /session is unknown, expired or not attested/);
    assert.equal((await resource(url2, { authorization: `Bearer ${token}` })).status, 200, 'the token still verifies');
  } finally {
    await kbs?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('KBS processes sharing one SQLite store with sessions in the store serve one handshake between them', async () => {
  const { dir, config, adminKeyPem } = setup();
  const kbses: Kbs[] = [];
  try {
    // The first one prepares the store (as the `--workers` primary does), then two share it.
    await (await openKbs({ config, ...policyEvaluators() })).close();
    for (let i = 0; i < 2; i++) kbses.push(await openKbs({ config, ...policyEvaluators(), sessions: 'store' }));
    const [a, b] = await Promise.all(kbses.map((k) => k.listen(0, '127.0.0.1')));
    await new KbsAdminClient(a, { privateKeyPem: adminKeyPem }).setResource('default/key/s', utf8.encode('shared'));
    const { cookie } = await new KbsClient(a, new SampleAttester()).attest();
    assert.equal(storedSessions(config), 1);
    const onB = await resource(b, { cookie: `kbs-session-id=${cookie}` });
    assert.equal(onB.status, 200, await onB.clone().text());
  } finally {
    for (const k of kbses) await k.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an attested session the store refuses: the guest is answered with the error, recorded after the allow record', async () => {
  const { dir, config, adminKeyPem } = setup();
  const store = await openSqliteStore({ dataDir: config.storage_backend.data_dir });
  let refused = 0;
  // The store of a KBS sharing its sessions, whose session write fails for attested sessions only.
  const sessions: SessionStore = {
    get: (id) => store.sessions.get(id),
    attempt: (id, nonce) => store.sessions.attempt(id, nonce),
    delete: (id) => store.sessions.delete(id),
    async put(s) {
      if (s.state === 'attested') {
        refused++;
        throw new CocoError('STORE_UNAVAILABLE', 'the session table is not writable', { kind: 'unavailable' });
      }
      return store.sessions.put(s);
    },
  };
  const failing = new Proxy(store, { get: (t, p) => (p === 'sessions' ? sessions : (Reflect.get(t, p, t) as unknown)) }) as Store;
  let kbs: Kbs | undefined;
  try {
    kbs = await openKbs({ config, store: failing, ...policyEvaluators() });
    const url = await kbs.listen(0, '127.0.0.1');
    await new KbsAdminClient(url, { privateKeyPem: adminKeyPem }).setResource('default/key/s', utf8.encode('kept'));
    const guest = new KbsClient(url, new SampleAttester(), { maxAttempts: 1 });
    await assert.rejects(guest.attest(), /session table is not writable/);
    assert.equal(refused, 1);
    await kbs.close();
    kbs = undefined;
    const decisions = (await store.audit.list({ kind: 'kbs.decision', limit: 10 })).reverse().map((e) => e.detail as { type: string; verdict: string; code?: string });
    assert.deepEqual(
      decisions.map((d) => [d.type, d.verdict, d.code]),
      [
        ['attestation', 'allow', undefined],
        ['attestation', 'deny', 'STORE_UNAVAILABLE'],
      ],
    );
    const rows = (await store.audit.list({ kind: 'kbs.attest', limit: 10 })).reverse().map((e) => [e.outcome, (e.detail as { code?: string }).code]);
    assert.deepEqual(rows, [
      ['ok', undefined],
      ['denied', 'STORE_UNAVAILABLE'],
    ]);
  } finally {
    await kbs?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
