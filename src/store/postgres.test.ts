import { after, before } from 'node:test';
import { listFilesRecursive, storeContract } from './contract.js';
import { openPostgresStore } from './postgres.js';
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
  // One database per test: the tests share the server, never their data.
  location: () => cluster!.createDatabase(`contract_${n++}`),
  open: (connectionString, o = {}) => openPostgresStore({ connectionString, kek: o.kek ?? defaultKek, now: o.now }),
  // Heap pages and WAL of the whole cluster: after a checkpoint everything committed is in these files.
  filesAtRest: async () => {
    await cluster!.checkpoint();
    return listFilesRecursive(cluster!.dataDir);
  },
});
