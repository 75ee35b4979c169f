import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFilesRecursive, storeContract } from './contract.js';
import { openSqliteStore } from './sqlite.js';

const root = mkdtempSync(join(tmpdir(), 'cocokit-store-sqlite-'));
let n = 0;
after(() => rmSync(root, { recursive: true, force: true }));

storeContract({
  name: 'SQLite',
  skip: false,
  location: async () => join(root, `d${n++}`),
  open: (dataDir, o = {}) => openSqliteStore({ dataDir, ...o }),
  // WAL frames and the main file are both read: a secret must be absent from either.
  filesAtRest: async (dataDir) => listFilesRecursive(dataDir),
});
