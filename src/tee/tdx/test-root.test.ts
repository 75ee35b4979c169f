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

/**
 * TCB status convergence (specs §2.3 C.4–C.7) on test-root quotes: the parsed collateral values are edited
 * after their signatures were checked against the raw text, so only the TCB evaluation sees the change.
 */
test('TCB status converges with the TDX module and QE identity statuses, and advises a TD relaunch, as Intel QVL does', () => {
  const evaluate = (version: 4 | 5, edit: (c: ReturnType<typeof t.collateral>) => void, fields: Record<string, Uint8Array> = {}): string | undefined => {
    const raw = t.signQuote({ version, ...fields });
    const c = t.collateral();
    edit(c);
    const v = verifyQuote(parseQuote(raw), { now, raw, root: t.root, collateral: c });
    return v.tcb?.status;
  };
  const mod = (c: ReturnType<typeof t.collateral>): NonNullable<ReturnType<typeof t.collateral>['tcbInfo']['value']['tdxModuleIdentities'][0]> => c.tcbInfo.value.tdxModuleIdentities[0];
  // Module OutOfDate turns UpToDate into OutOfDate and ConfigurationNeeded into OutOfDateConfigurationNeeded.
  assert.equal(evaluate(4, (c) => (mod(c).tcbLevels[0].tcbStatus = 'OutOfDate')), 'OutOfDate');
  assert.equal(
    evaluate(4, (c) => {
      mod(c).tcbLevels[0].tcbStatus = 'OutOfDate';
      c.tcbInfo.value.tcbLevels[0].tcbStatus = 'ConfigurationNeeded';
    }),
    'OutOfDateConfigurationNeeded',
  );
  assert.equal(evaluate(4, (c) => (mod(c).tcbLevels[0].tcbStatus = 'Revoked')), 'Revoked');
  // A module SVN below every module level: not supported.
  assert.equal(evaluate(4, (c) => (mod(c).tcbLevels[0].isvSvn = 99)), 'NotSupported');
  // QE identity OutOfDate / Revoked / no level.
  assert.equal(evaluate(4, (c) => (c.qeIdentity.value.tcbLevels[0].tcbStatus = 'OutOfDate')), 'OutOfDate');
  assert.equal(
    evaluate(4, (c) => {
      c.qeIdentity.value.tcbLevels[0].tcbStatus = 'OutOfDate';
      c.tcbInfo.value.tcbLevels[0].tcbStatus = 'SWHardeningNeeded';
    }),
    'OutOfDate',
  );
  assert.equal(evaluate(4, (c) => (c.qeIdentity.value.tcbLevels[0].tcbStatus = 'Revoked')), 'Revoked');
  assert.equal(evaluate(4, (c) => (c.qeIdentity.value.tcbLevels[0].isvSvn = 99)), 'NotSupported');
  // Body type 3: the TD matches an OutOfDate TDX level below the latest (UpToDate) one, its module level is
  // OutOfDate, but TEE_TCB_SVN2 (the module loaded now) reaches the latest level → relaunch advised.
  const relaunch = (c: ReturnType<typeof t.collateral>): void => {
    const levels = c.tcbInfo.value.tcbLevels;
    const latest = { ...levels[0], tdxComponents: [...levels[0].tdxComponents], tcbStatus: 'UpToDate' as const };
    latest.tdxComponents[2] += 1;
    levels[0].tcbStatus = 'OutOfDate';
    levels.unshift(latest);
    mod(c).tcbLevels[0].tcbStatus = 'OutOfDate';
  };
  const svn2 = (late: number): Uint8Array => new Uint8Array([5, 1, late, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(evaluate(5, relaunch, { teeTcbSvn2: svn2(4) }), 'TDRelaunchAdvised');
  assert.equal(evaluate(4, relaunch), 'OutOfDate', 'TDX 1.0 bodies carry no TEE_TCB_SVN2');
  assert.equal(evaluate(5, relaunch, { teeTcbSvn2: svn2(3) }), 'OutOfDate', 'SVN2 below the latest late-microcode level');
  assert.equal(
    evaluate(
      5,
      (c) => {
        relaunch(c);
        c.tcbInfo.value.tcbLevels[1].tcbStatus = 'OutOfDateConfigurationNeeded';
      },
      { teeTcbSvn2: svn2(4) },
    ),
    'TDRelaunchAdvisedConfigurationNeeded',
  );
});
