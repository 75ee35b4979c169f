import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failures } from '../../formats/check.js';
import { toHex } from '../../formats/bytes.js';
import { parseQuote } from './format.js';
import { createTdxTestRoot, loadTdxTestRoot, writeTdxTestRoot } from './test-root.js';
import { verifyQuote } from './verify.js';

const t = createTdxTestRoot();
const now = new Date('2025-01-10T00:00:00Z');

test('a test-root quote and its collateral verify UpToDate against the test root, v4 and v5', () => {
  for (const version of [4, 5] as const) {
    const raw = t.signQuote({ version, mrTd: new Uint8Array(48).fill(7) });
    const q = parseQuote(raw);
    assert.equal(q.bodyType, version === 5 ? 3 : 2);
    const v = verifyQuote(q, { now, raw, root: t.root, collateral: t.collateral() });
    assert.deepEqual(failures(v.checks), []);
    assert.equal(v.tcb?.status, 'UpToDate');
    assert.equal(toHex(v.quote.body.mrTd), '07'.repeat(48));
  }
});

test('a test-root quote is refused under the genuine Intel root', () => {
  const raw = t.signQuote();
  const v = verifyQuote(parseQuote(raw), { now, raw });
  assert.deepEqual([...new Set(failures(v.checks).map((c) => c.id))], ['pck-chain']);
});

test('a revoked PCK certificate is named by the revocation check', () => {
  const raw = t.signQuote();
  const v = verifyQuote(parseQuote(raw), { now, raw, root: t.root, collateral: t.collateral({ revokedPck: [BigInt(`0x${t.pck.serialNumber}`)] }) });
  assert.deepEqual(
    failures(v.checks).map((c) => c.id),
    ['revocation'],
  );
});

test('an OutOfDate TCB level is reported with its advisory, the quote still authentic', () => {
  const raw = t.signQuote();
  const v = verifyQuote(parseQuote(raw), { now, raw, root: t.root, collateral: t.collateral({ tcbStatus: 'OutOfDate' }) });
  assert.deepEqual(failures(v.checks), []);
  assert.equal(v.tcb?.status, 'OutOfDate');
  assert.deepEqual(v.tcb?.advisoryIds, ['INTEL-SA-TEST']);
});

test('a test root written to disk loads back and signs verifiable quotes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-root-'));
  try {
    writeTdxTestRoot(dir, t);
    const back = loadTdxTestRoot(dir);
    const raw = back.signQuote({ version: 5 });
    const v = verifyQuote(parseQuote(raw), { now, raw, root: t.root, collateral: back.collateral() });
    assert.deepEqual(failures(v.checks), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
