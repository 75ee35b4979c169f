import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFilesRecursive, storeContract } from './contract.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { postgresMissing, startPostgres, type PostgresCluster } from '../test-support/postgres.js';

const skip = postgresMissing();
let cluster: PostgresCluster | undefined;
let n = 0;
const defaultKek = new Uint8Array(32).fill(7);

if (skip === false) {
  before(async () => {
    cluster = await startPostgres();
    // A linguistic collation, as production databases usually have: listings must still come out in the
    // same code-unit order as on SQLite.
    // A server built without ICU falls back to the cluster's C collation.
    await cluster.createDatabase('contract', 'en-US').catch(() => cluster!.createDatabase('contract'));
  });
  after(async () => {
    await cluster?.stop();
  });
}

storeContract({
  name: 'PostgreSQL',
  skip,
  // One schema per test: the tests share the server, never their data.
  location: () => cluster!.createSchema(`contract_${n++}`, 'contract'),
  open: (connectionString, o = {}) => openPostgresStore({ connectionString, kek: o.kek ?? defaultKek, now: o.now }),
  // Heap pages and WAL of the whole cluster: after a checkpoint everything committed is in these files.
  filesAtRest: async () => {
    await cluster!.checkpoint();
    return listFilesRecursive(cluster!.dataDir);
  },
});

test('an unreachable server is an unavailable CocoError', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-nopg-'));
  try {
    await assert.rejects(openPostgresStore({ connectionString: `postgresql://postgres@localhost/none?host=${dir}`, kek: defaultKek }), {
      code: 'STORE_BACKEND',
      kind: 'unavailable',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PostgreSQL store needs a connection string and an explicit key', async () => {
  await assert.rejects(openPostgresStore({ connectionString: '', kek: defaultKek }), { code: 'STORE_ARGUMENT', kind: 'usage' });
  await assert.rejects(openPostgresStore({ connectionString: 'postgresql://x@localhost/y' } as PostgresStoreOptions), { code: 'STORE_KEK_MISSING', kind: 'usage' });
});

test('a store keeps working after the server drops its connections', { skip }, async () => {
  const s = await openPostgresStore({ connectionString: await cluster!.createSchema('dropped'), kek: defaultKek });
  try {
    await s.resources.put({ repository: 'r', type: 't', tag: 'g' }, Buffer.from('before'));
    const killed = await cluster!.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    );
    assert.ok(killed.length >= 1);
    // The pool drops the dead idle connections and opens fresh ones; no process crash, no stale error.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(Buffer.from((await s.resources.get({ repository: 'r', type: 't', tag: 'g' }))!).toString(), 'before');
  } finally {
    await s.close();
  }
});
