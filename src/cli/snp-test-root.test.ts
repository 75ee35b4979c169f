import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../formats/bytes.js';
import { certRole, loadPemBundle } from '../tee/snp/certs.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';
import { safeKeyPair } from '../formats/keygen.js';

const dir = mkdtempSync(join(tmpdir(), 'snp-test-root-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir });
}

const M = 'ab'.repeat(48);
const RD = 'cd'.repeat(32);
const HD = 'ef'.repeat(32);
const failed = (r: { json: any }): string[] => [...new Set<string>(r.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id))];

test('snp test-root writes a non-AMD ARK+ASK bundle, a VCEK and its private key', async () => {
  const r = await cli(['snp', 'test-root', '--out', 'genoa-root', '--product', 'genoa']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /NOT AMD/);
  assert.match(r.out, /trusted_roots = \[\{ product = "genoa"/);
  const certs = loadPemBundle(readFileSync(join(dir, 'genoa-root', 'roots.pem'), 'utf8'), 'roots');
  assert.deepEqual(certs.map((c) => certRole(c)), [{ role: 'ark', product: 'genoa' }, { role: 'ask', product: 'genoa' }]);
  assert.ok(certs.every((c) => c.subject.includes('O=cocokit TEST root (not AMD)')));
  assert.equal(statSync(join(dir, 'genoa-root', 'vcek-key.pem')).mode & 0o777, 0o600);
  assert.ok(existsSync(join(dir, 'genoa-root', 'vcek.pem')));
  // Written again over a key file someone widened, the key file is narrowed again.
  chmodSync(join(dir, 'genoa-root', 'vcek-key.pem'), 0o644);
  assert.equal((await cli(['snp', 'test-root', '--out', 'genoa-root', '--product', 'genoa'])).code, 0);
  assert.equal(statSync(join(dir, 'genoa-root', 'vcek-key.pem')).mode & 0o777, 0o600);
});

test('snp test-report signs evidence with the chosen fields that verifies only with --roots', async () => {
  assert.equal((await cli(['snp', 'test-root', '--out', 'milan-root'])).code, 0);
  const made = await cli(['snp', 'test-report', '--root-dir', 'milan-root', '--measurement', M, '--report-data', RD, '--host-data', HD, '--out', 'ev.json']);
  assert.equal(made.code, 0, made.err);
  const ev = JSON.parse(readFileSync(join(dir, 'ev.json'), 'utf8'));
  assert.equal(ev.cert_chain[0].cert_type, 'VCEK');
  const expect = ['--measurement', M, '--report-data', RD, '--host-data', HD, '--vmpl', '0', '--product', 'milan', '--json'];
  const ok = await cli(['snp', 'verify', 'ev.json', '--roots', join('milan-root', 'roots.pem'), ...expect]);
  assert.equal(ok.code, 0, ok.out);
  assert.equal(ok.json.valid, true);
  assert.match(ok.err, /instead of the genuine AMD roots/);
  assert.equal(ok.json.claims.measurement, M);
  assert.equal(ok.json.claims.report_data, RD + '00'.repeat(32));
  // The default trust anchors are AMD's: the same evidence fails its chain.
  const amd = await cli(['snp', 'verify', 'ev.json', ...expect]);
  assert.equal(amd.code, 2);
  assert.deepEqual(failed(amd), ['chain']);
  // Another test root's bundle is not this report's root either.
  assert.equal((await cli(['snp', 'test-root', '--out', 'other-root'])).code, 0);
  const other = await cli(['snp', 'verify', 'ev.json', '--roots', join('other-root', 'roots.pem'), '--json']);
  assert.equal(other.code, 2);
  assert.ok(failed(other).includes('chain'));
  // An expectation that the synthetic report does not meet still fails as an expectation (exit 5).
  const wrong = await cli(['snp', 'verify', 'ev.json', '--roots', join('milan-root', 'roots.pem'), '--host-data', '00', '--json']);
  assert.equal(wrong.code, 5);
  assert.deepEqual(failed(wrong), ['host-data']);
});

test('snp test-report --format raw writes the 1184 ABI bytes that snp show decodes', async () => {
  assert.equal((await cli(['snp', 'test-root', '--out', 'turin-root', '--product', 'turin'])).code, 0);
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'turin-root', '--format', 'raw', '--vmpl', '2', '--measurement', M, '--out', 'r.bin'])).code, 0);
  const raw = readFileSync(join(dir, 'r.bin'));
  assert.equal(raw.length, 1184);
  const shown = await cli(['snp', 'show', 'r.bin', '--json']);
  assert.equal(shown.json.product, 'turin');
  assert.equal(shown.json.vmpl, 2);
  assert.equal(shown.json.measurement, toHex(new Uint8Array(raw.subarray(0x90, 0xc0))));
  assert.equal(shown.json.measurement, M);
});

test('snp test-report and --roots refuse bad input with usage or input errors', async () => {
  assert.equal((await cli(['snp', 'test-root', '--out', 'r2'])).code, 0);
  const missing = await cli(['snp', 'test-report', '--root-dir', 'no-such-dir']);
  assert.equal(missing.code, 11);
  assert.match(missing.err, /snp test-root --out .*no-such-dir/);
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'r2', '--measurement', 'ab'])).code, 1);
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'r2', '--report-data', '00'.repeat(65)])).code, 1);
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'r2', '--format', 'pem'])).code, 1);
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'r2', '--vmpl', '4'])).code, 1);
  assert.equal((await cli(['snp', 'test-root', '--out', 'x', '--product', 'rome'])).code, 1);
  // A --roots file without an ARK and ASK is refused before any verification.
  assert.equal((await cli(['snp', 'test-report', '--root-dir', 'r2', '--out', 'ev2.json'])).code, 0);
  const notRoots = await cli(['snp', 'verify', 'ev2.json', '--roots', join('r2', 'vcek.pem')]);
  assert.notEqual(notRoots.code, 0);
  assert.match(notRoots.err, /need an ARK and an ASK/);
  // A VCEK key that is not P-384 is an input error, not a crash.
  writeFileSync(join(dir, 'r2', 'vcek-key.pem'), safeKeyPair('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const wrongKey = await cli(['snp', 'test-report', '--root-dir', 'r2']);
  assert.match(wrongKey.err, /SNP_TEST_ROOT.*not a P-384 key/);
  assert.notEqual(wrongKey.code, 0);
});

test('snp verify --crl: a CRL from the ARK that revokes the ASK fails the crl check (exit 2); a clean one passes', async () => {
  const { createTestRoot, writeTestRoot } = await import('../tee/snp/test-root.js');
  const root = createTestRoot({ product: 'milan' });
  const chip = root.createChip();
  const paths = writeTestRoot(join(dir, 'crl-root'), root, chip);
  writeFileSync(join(dir, 'crl-report.bin'), root.signReport(chip));
  const at = '2026-01-01T00:00:00Z';
  const window = [new Date('2025-12-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z')] as const;
  writeFileSync(join(dir, 'clean.crl'), root.issueCrl([0x777n], ...window));
  writeFileSync(join(dir, 'revoking.crl'), root.issueCrl([BigInt(`0x${root.ask.serialNumber}`)], ...window));
  const base = ['snp', 'verify', 'crl-report.bin', '--roots', paths.roots, '--vcek', paths.vcek, '--at', at, '--json'];

  const clean = await cli([...base, '--crl', 'clean.crl']);
  assert.equal(clean.code, 0, clean.err);
  assert.ok(clean.json.checks.some((c: any) => c.id === 'crl' && c.ok));

  const revoked = await cli([...base, '--crl', 'revoking.crl']);
  assert.equal(revoked.code, 2, revoked.err);
  assert.deepEqual(failed(revoked), ['crl']);

  const garbage = await cli([...base, '--crl', 'crl-report.bin']);
  assert.notEqual(garbage.code, 0);
});
