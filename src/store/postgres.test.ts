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
  });
  after(async () => {
    await cluster?.stop();
  });
}

storeContract({
  name: 'PostgreSQL',
  skip,
  // One schema per test: the tests share the server, never their data.
  location: () => cluster!.createSchema(`contract_${n++}`),
  open: (connectionString, o = {}) => openPostgresStore({ connectionString, kek: o.kek ?? defaultKek, now: o.now }),
  // Heap pages and WAL of the whole cluster: after a checkpoint everything committed is in these files.
  filesAtRest: async () => {
    await cluster!.checkpoint();
    return listFilesRecursive(cluster!.dataDir);
  },
});

test('an unreachable server is an unavailable CocoError', async () => {
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
