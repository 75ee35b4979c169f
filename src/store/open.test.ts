import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { manualClock } from './contract.js';
import { openStore, startExpirySweep, type StoreConfig } from './open.js';

test('openStore picks the adapter from the configuration and rejects unknown types', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-open-'));
  try {
    const s = await openStore({ type: 'sqlite', dataDir: dir });
    assert.equal(s.backend, 'sqlite');
    await s.close();
    await assert.rejects(openStore({ type: 'mysql' } as unknown as StoreConfig), { code: 'STORE_ARGUMENT', kind: 'usage' });
    await assert.rejects(openStore(null as unknown as StoreConfig), { code: 'STORE_ARGUMENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the expiry sweep deletes expired sessions on its interval until stopped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-sweep-'));
  const clock = manualClock();
  const s = await openStore({ type: 'sqlite', dataDir: dir, now: clock.now });
  try {
    const put = (id: string) => s.sessions.put({ id, tee: 'sample', nonce: 'n', state: 'authed', createdAt: clock.now(), expiresAt: new Date(clock.now().getTime() + 1000) });
    await put('a');
    clock.advance(1000);
    const sweep = startExpirySweep(s, { intervalMs: 5 });
    await sleep(100);
    // Swept: nothing is left for a manual sweep to remove.
    assert.deepEqual(await s.sweepExpired(), { sessions: 0, nonces: 0 });
    sweep.stop();
    await put('b');
    clock.advance(1000);
    await sleep(50);
    assert.deepEqual(await s.sweepExpired(), { sessions: 1, nonces: 0 });
    assert.throws(() => startExpirySweep(s, { intervalMs: 0 }), { code: 'STORE_ARGUMENT' });
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
