import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromHex } from '../../formats/bytes.js';
import { failures } from '../../formats/check.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { CocoError } from '../../errors.js';
import { CollateralCache, collateralCachePath, serializeCollateralBundle } from './collateral.js';
import { evidenceToJson } from './evidence.js';
import { createTdxTestRoot } from './test-root.js';
import { createTdxVerifier } from './verifier.js';

test('the tdx verifier replays cc_eventlog against the quote RTMRs and emits uefi_event_logs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-ver-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = createTdxTestRoot();
  const now = new Date('2025-01-10T00:00:00Z');
  const path = collateralCachePath(dir, root.platform.fmspc, 'platform');
  mkdirSync(join(dir, 'tdx'));
  writeFileSync(path, serializeCollateralBundle(root.collateral()));
  const verifier = createTdxVerifier({ root: root.root, collateralDir: dir });
  const x = readVectorJson('tdx', 'trustee-ovmf-directboot.expected.json').upstream_expected;
  const log = new Uint8Array(readVector('tdx', 'trustee-ovmf-directboot.ccel-data.bin'));
  // A synthetic TD whose RTMRs are what OVMF measured in Trustee's direct-boot log.
  const quote = root.signQuote({ rtmr0: fromHex(x.rtmr0), rtmr1: fromHex(x.rtmr1), rtmr2: fromHex(x.rtmr2) });
  const r = await verifier.verify(evidenceToJson({ quote, ccEventLog: log }), { now });
  assert.deepEqual(failures(r.checks), []);
  assert.equal((r.claims.uefi_event_logs as unknown[]).length, 20);
  const tampered = new Uint8Array(log);
  tampered[0x400] ^= 1; // a byte of a logged SHA-384 digest: the RTMRs no longer replay
  const bad = await verifier.verify(evidenceToJson({ quote, ccEventLog: tampered }), { now });
  assert.ok(failures(bad.checks).length > 0);
  assert.ok(failures(bad.checks).every((c) => c.id === 'ccel-replay'));
  const none = await createTdxVerifier({ root: root.root }).verify(evidenceToJson({ quote, ccEventLog: null }), { now });
  assert.deepEqual(failures(none.checks).map((c) => c.id), ['collateral']);
});

test('the collateral cache is read once per file change, asynchronously, and a refreshed file is picked up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = createTdxTestRoot();
  const cache = new CollateralCache(dir);
  await assert.rejects(cache.get(root.platform.fmspc, 'platform'), (e: unknown) => e instanceof CocoError && e.kind === 'unavailable');
  const path = collateralCachePath(dir, root.platform.fmspc, 'platform');
  mkdirSync(join(dir, 'tdx'));
  const bundle = serializeCollateralBundle(root.collateral());
  writeFileSync(path, bundle);
  const first = await cache.get(root.platform.fmspc, 'platform');
  assert.equal(await cache.get(root.platform.fmspc, 'platform'), first, 'unchanged file: the parsed collateral is reused');
  assert.equal(cache.loads, 1);
  // fetch-collateral rewrites the file: a later mtime makes the next attestation read it again.
  writeFileSync(path, bundle);
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  const second = await cache.get(root.platform.fmspc, 'platform');
  assert.notEqual(second, first);
  assert.equal(cache.loads, 2);
  writeFileSync(path, '{"not":"collateral"}');
  await assert.rejects(cache.get(root.platform.fmspc, 'platform'), (e: unknown) => e instanceof CocoError && e.kind !== 'internal');
  rmSync(path);
  await assert.rejects(cache.get(root.platform.fmspc, 'platform'), /no TDX collateral/);
});
