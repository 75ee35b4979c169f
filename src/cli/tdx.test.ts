import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv);
}

const VECTORS = ['gotdx-v4-spr-e4', 'gotdx-v5-tdx15', 'gotdx-cos113-ccel', 'dcapqvl-v4-uptodate', 'dcapqvl-v5-notsupported', 'trustee-v4-mrconfigid'];

for (const name of VECTORS) {
  test(`tdx verify gives ${name} its expected verdict and exit code`, async () => {
    const x = readVectorJson('tdx', `${name}.expected.json`);
    const r = await cli(['tdx', 'verify', vectorPath('tdx', `${name}.quote.bin`), '--collateral', vectorPath('tdx', x.collateral_file), '--at', x.verification_time, '--json']);
    const ok = x.expected_error === null;
    assert.equal(r.json.valid, ok, r.out);
    assert.equal(r.code, ok ? 0 : 2);
    if (ok) assert.equal(r.json.claims.tcb_status, x.expected_tcb_status_intel_qvl_semantics);
    else assert.match(r.out, /FAIL tcb-level: no TCB level matches/);
    assert.equal(r.json.claims.quote.body.mr_td, x.body.mrtd);
  });
}

test('tdx verify --explain lists every check; only a failed expectation exits 5', async () => {
  const x = readVectorJson('tdx', 'trustee-v4-mrconfigid.expected.json');
  const base = ['tdx', 'verify', vectorPath('tdx', 'trustee-v4-mrconfigid.quote.bin'), '--collateral', vectorPath('tdx', x.collateral_file), '--at', x.verification_time];
  const r = await cli([...base, '--explain', '--mrtd', x.body.mrtd, '--mr-config-id', x.body.mrconfigid, '--no-debug']);
  assert.equal(r.code, 0, r.out);
  for (const id of ['pck-chain', 'qe-report-signature', 'qe-report-data', 'quote-signature', 'tcb-info-signature', 'qe-identity-signature', 'crl', 'revocation', 'collateral-validity', 'fmspc', 'tdx-module', 'qe-identity', 'tcb-level', 'tcb-status', 'mrtd', 'init-data', 'debug']) {
    assert.match(r.out, new RegExp(`^ok   ${id}: `, 'm'), id);
  }
  assert.match(r.out, /TCB OutOfDate/);
  const bad = await cli([...base, '--mrtd', '00'.repeat(48), '--json']);
  assert.equal(bad.code, 5);
  assert.deepEqual(bad.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id), ['mrtd']);
  const late = await cli([...base.slice(0, 5), '--at', '2030-01-01T00:00:00Z', '--json']);
  assert.equal(late.code, 2);
  assert.ok(late.json.checks.some((c: any) => c.id === 'collateral-validity' && !c.ok));
});

test('tdx verify exits 3 when the cache holds no collateral for the platform', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-empty-'));
  try {
    const r = await cli(['tdx', 'verify', vectorPath('tdx', 'gotdx-v5-tdx15.quote.bin'), '--cache', dir, '--at', '2026-03-01T00:00:00Z']);
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, /TDX_COLLATERAL_UNAVAILABLE.*90c06f000000/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tdx show decodes raw and hex quotes alike, with Trustee claim names in --json', async () => {
  const r = await cli(['tdx', 'show', vectorPath('tdx', 'gotdx-v5-tdx15.quote.bin'), '--json']);
  assert.equal(r.code, 0);
  assert.equal(r.json.quote.type, '0300');
  assert.equal(r.json.pck.fmspc, '90c06f000000');
  const text = await cli(['tdx', 'show', vectorPath('tdx', 'gotdx-v4-spr-e4.quote.bin')]);
  assert.match(text.out, /^trailing\s+39 byte\(s\)/m);
  assert.equal((await cli(['tdx', 'show', vectorPath('tdx', 'gotdx-v5-tdx15.expected.json')])).code, 4);
});

test('tdx fetch-collateral fills the cache from a PCS that serves the recorded responses, and verify reads it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tcbChain = encodeURIComponent(readVector('tdx', 'gotdx-pcs-tcb-info-issuer-chain.pem').toString());
  const crlChain = encodeURIComponent(readVector('tdx', 'gotdx-pcs-pck-crl-issuer-chain.pem').toString());
  const routes: Record<string, [Record<string, string>, Buffer]> = {
    '/tdx/certification/v4/tcb?fmspc=50806f000000': [{ 'TCB-Info-Issuer-Chain': tcbChain, 'content-type': 'application/json' }, readVector('tdx', 'gotdx-pcs-tcbinfo-50806f000000.json')],
    '/tdx/certification/v4/qe/identity': [{ 'SGX-Enclave-Identity-Issuer-Chain': tcbChain, 'content-type': 'application/json' }, readVector('tdx', 'gotdx-pcs-qeidentity-tdqe.json')],
    '/sgx/certification/v4/pckcrl?ca=platform&encoding=der': [{ 'SGX-PCK-CRL-Issuer-Chain': crlChain, 'content-type': 'application/pkix-crl' }, readVector('tdx', 'gotdx-pcs-pckcrl-platform.der')],
    '/IntelSGXRootCA.der': [{ 'content-type': 'application/pkix-crl' }, readVector('tdx', 'gotdx-pcs-rootcrl.der')],
  };
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const route = routes[req.url ?? ''];
    if (!route) res.writeHead(404).end();
    else res.writeHead(200, route[0]).end(route[1]);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const quote = vectorPath('tdx', 'gotdx-v4-spr-e4.quote.bin');
  const r = await cli(['tdx', 'fetch-collateral', quote, '--cache', dir, '--pcs-url', base, '--root-crl-url', `${base}/IntelSGXRootCA.der`]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), join(dir, 'tdx', '50806f000000-platform.collateral.json'));
  assert.deepEqual(requests.sort(), Object.keys(routes).sort());
  // The cached bundle carries the same signed texts as the recorded bundle for this quote.
  const cached = JSON.parse(readFileSync(r.out.trim(), 'utf8'));
  const recorded = readVectorJson('tdx', 'gotdx-v4-spr-e4.collateral.json');
  assert.equal(cached.tcb_info, recorded.tcb_info);
  assert.equal(cached.qe_identity, recorded.qe_identity);
  const v = await cli(['tdx', 'verify', quote, '--cache', dir, '--at', '2023-07-01T01:00:00Z', '--json']);
  assert.deepEqual(v.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id), ['tcb-level', 'tcb-status']);
  // A PCS that answers without the issuer-chain header is unavailable, and nothing is cached.
  delete routes['/tdx/certification/v4/qe/identity'][0]['SGX-Enclave-Identity-Issuer-Chain'];
  const other = mkdtempSync(join(dir, 'other-'));
  const missing = await cli(['tdx', 'fetch-collateral', quote, '--cache', other, '--pcs-url', base, '--root-crl-url', `${base}/IntelSGXRootCA.der`]);
  assert.equal(missing.code, 3);
  assert.match(missing.err, /SGX-Enclave-Identity-Issuer-Chain/);
});

test('tdx test-root and test-quote make a lab setup that verifies only under --root, with expectations', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tdx-lab-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rootDir = join(dir, 'root');
  const made = await cli(['tdx', 'test-root', '--out', rootDir]);
  assert.equal(made.code, 0, made.err);
  assert.match(made.out, /trusted_root = /);
  const cache = join(dir, 'cache');
  const cfg = 'ab'.repeat(48);
  const q = await cli(['tdx', 'test-quote', '--root-dir', rootDir, '--quote-version', '5', '--mrtd', '11'.repeat(48), '--mr-config-id', cfg, '--cache', cache, '--out', join(dir, 'ev.json')]);
  assert.equal(q.code, 0, q.err);
  const ok = await cli(['tdx', 'verify', join(dir, 'ev.json'), '--root', join(rootDir, 'root.pem'), '--cache', cache, '--mrtd', '11'.repeat(48), '--mr-config-id', cfg, '--no-debug', '--json']);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.err, /instead of the Intel SGX Root CA/);
  assert.equal(ok.json.claims.tcb_status, 'UpToDate');
  assert.equal((await cli(['tdx', 'verify', join(dir, 'ev.json'), '--cache', cache])).code, 2, 'not under the Intel root');
  await cli(['tdx', 'test-quote', '--root-dir', rootDir, '--debug', '--out', join(dir, 'debug.json')]);
  const dbg = await cli(['tdx', 'verify', join(dir, 'debug.json'), '--root', join(rootDir, 'root.pem'), '--cache', cache, '--no-debug', '--json']);
  assert.equal(dbg.code, 5);
  assert.deepEqual(dbg.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id), ['debug']);
  assert.equal((await cli(['tdx', 'test-quote', '--root-dir', join(dir, 'nope')])).code, 11, 'a missing root directory is a file error');
});

test('tdx verify --ccel replays the log against RTMR0..3 and names a mismatch', async () => {
  const x = readVectorJson('tdx', 'gotdx-cos113-ccel.expected.json');
  const base = ['tdx', 'verify', vectorPath('tdx', 'gotdx-cos113-ccel.quote.bin'), '--at', x.verification_time, '--json'];
  const ok = await cli([...base, '--ccel', vectorPath('tdx', 'gotdx-cos113-ccel.ccel-data.bin')]);
  assert.equal(ok.code, 0, ok.out);
  assert.equal(ok.json.checks.filter((c: any) => c.id === 'ccel-replay').length, 4);
  assert.ok(ok.json.claims.uefi_event_logs.length > 0);
  const bad = await cli([...base, '--ccel', vectorPath('tdx', 'trustee-ovmf-directboot.ccel-data.bin')]);
  assert.equal(bad.code, 2);
  assert.deepEqual([...new Set(bad.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id))], ['ccel-replay']);
});

test('tdx eventlog lists a CCEL log and the RTMRs it replays to, with the ACPI table', async () => {
  const x = readVectorJson('tdx', 'gotdx-cos113-ccel.ccel-replay.expected.json');
  const want = Object.values(x.replayed_sha384_registers) as string[];
  const r = await cli(['tdx', 'eventlog', vectorPath('tdx', 'gotdx-cos113-ccel.ccel-data.bin'), '--table', vectorPath('tdx', 'gotdx-cos113-ccel.ccel-table.bin'), '--json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual([r.json.rtmr_0, r.json.rtmr_1, r.json.rtmr_2, r.json.rtmr_3], want);
  assert.equal(r.json.table.lasa, '0xbedbf000');
  const text = await cli(['tdx', 'eventlog', vectorPath('tdx', 'trustee-ovmf-directboot.ccel-data.bin')]);
  assert.match(text.out, /RTMR2 +EV_EVENT_TAG/);
  assert.equal((await cli(['tdx', 'eventlog', vectorPath('tdx', 'gotdx-cos113-ccel.ccel-table.bin')])).code, 4);
});

test('tdx verify --reference-provenance replays the CCEL against the RTMR events a registration predicts', async () => {
  const { writeFileSync } = await import('node:fs');
  const { parseEventLog } = await import('../eventlog/index.js');
  const { loggedEvents } = await import('../measure/explain-events.js');
  const { referenceValuesFromArtifacts } = await import('../measure/from-artifacts.js');
  const { tinyFirmware } = await import('../measure/test-support/tdvf.js');
  const { authenticodeDigest } = await import('../formats/authenticode.js');
  const { toHex } = await import('../formats/bytes.js');
  const x = readVectorJson('tdx', 'gotdx-cos113-ccel.expected.json');
  const ccel = vectorPath('tdx', 'gotdx-cos113-ccel.ccel-data.bin');
  const dir = mkdtempSync(join(tmpdir(), 'tdx-refprov-'));
  try {
    const kernel = new Uint8Array(readVector('uki', 'pe', 'pe-s01.efi'));
    const rv = await referenceValuesFromArtifacts({ tdx: { firmware: tinyFirmware(), kernel, initrd: new Uint8Array(8), append: 'console=hvc0' } });
    // A record as `kbs config get-reference-value NAME --provenance` prints it.
    writeFileSync(join(dir, 'rtmr1.json'), JSON.stringify({ name: 'rtmr_1', value: [rv.values.rtmr_1], provenance: rv.provenance.rtmr_1 }));
    const base = ['tdx', 'verify', vectorPath('tdx', 'gotdx-cos113-ccel.quote.bin'), '--collateral', vectorPath('tdx', x.collateral_file), '--at', x.verification_time, '--ccel', ccel];
    const measured = loggedEvents(parseEventLog(new Uint8Array(readFileSync(ccel)), { trailing: 'padding' }), 2, 'sha384');
    const r = await cli([...base, '--reference-provenance', join(dir, 'rtmr1.json'), '--explain']);
    assert.equal(r.code, 5, r.out + r.err);
    assert.ok(r.out.includes(`FAIL reference-events: RTMR1 event 1 (kernel (Authenticode)) differs: expected sha384 ${toHex(authenticodeDigest(kernel, 'sha384'))}, measured ${measured[0].digest}`), r.out);
    // Provenance whose events are the log's own: the check passes.
    writeFileSync(join(dir, 'own.json'), JSON.stringify({ algorithm: 'tdx-direct-boot-rtmr', events: { register: 'RTMR1', bank: 'sha384', events: measured.map((e, i) => ({ description: `event ${i + 1}`, digest: e.digest })) } }));
    const same = await cli([...base, '--reference-provenance', join(dir, 'own.json'), '--explain']);
    assert.equal(same.code, 0, same.out + same.err);
    assert.match(same.out, /^ok {3}reference-events: the log's RTMR1 events are the ones the artifacts predict/m);
    writeFileSync(join(dir, 'none.json'), JSON.stringify({ algorithm: 'x' }));
    const none = await cli([...base, '--reference-provenance', join(dir, 'none.json')]);
    assert.equal(none.code, 1);
    assert.match(none.err, /no predicted events/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
