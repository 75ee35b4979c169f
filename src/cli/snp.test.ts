import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');
const byId = (id: string): any => index.vectors.find((v) => v.id === id);
const chainPath = (p: string): string => vectorPath(p.replace(/^shared\/vectors\//, ''));
const timeOf = (v: any): string =>
  v.suggested_verification_time ?? index.vectors.find((x) => !x.negative && (x.report === v.report || x.report === v.report.replace('.tampered', ''))).suggested_verification_time;

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv);
}

for (const v of index.vectors) {
  test(`snp verify gives the right verdict and exit code on ${v.id}`, async () => {
    const signerFlag = v.endorsement_cert.endsWith('.vlek.der') ? '--vlek' : '--vcek';
    const product = (['milan', 'genoa', 'turin'] as const).find((p) => v.chain.includes(p))!;
    const r = await cli(['snp', 'verify', vectorPath('snp', v.report), signerFlag, vectorPath('snp', v.endorsement_cert), '--cert-chain', chainPath(v.chain), '--at', timeOf(v), '--product', product, '--json']);
    const e = v.expected;
    const authentic = e.signature_valid && e.chain_valid && e.reported_tcb_matches_cert !== false && e.chip_id_matches_hwid !== false;
    assert.equal(r.json.valid, authentic, r.out);
    assert.equal(r.code, authentic ? 0 : 2);
    const failed = new Set(r.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id));
    assert.equal(!failed.has('signature'), e.signature_valid);
    assert.equal(!failed.has('chain'), e.chain_valid);
    if (!v.negative) assert.equal(r.json.claims.measurement, v.fields.measurement);
  });
}

test('snp verify --explain lists every check with its values', async () => {
  const v = byId('anolis-turin-v5');
  const r = await cli(['snp', 'verify', vectorPath('snp', v.report), '--vcek', vectorPath('snp', v.endorsement_cert), '--at', timeOf(v), '--explain']);
  assert.equal(r.code, 0);
  for (const id of ['signature', 'chain', 'tcb', 'chip-id', 'validity']) assert.match(r.out, new RegExp(`^ok   ${id}: `, 'm'));
  assert.match(r.out, /VEK fmcSPL equals REPORTED_TCB.fmc \(expected 1, actual 1\)/);
});

test('snp verify exits 5 when only an expectation fails, naming it', async () => {
  const v = byId('gsg-milan-v2');
  const base = ['snp', 'verify', vectorPath('snp', v.report), '--vcek', vectorPath('snp', v.endorsement_cert), '--at', timeOf(v), '--json'];
  const good = await cli([...base, '--measurement', v.fields.measurement, '--report-data', '0102030405', '--host-data', v.fields.host_data, '--min-tcb', 'bl=2,tee=0,snp=5,ucode=68', '--product', 'milan', '--vmpl', '0']);
  assert.equal(good.code, 0, good.out);
  const bad = await cli([...base, '--measurement', '00'.repeat(48), '--min-tcb', 'ucode=69', '--policy', 'debug=false,migrate_ma=false']);
  assert.equal(bad.code, 5);
  // gsg-milan-v2's policy 0xB0000 allows debugging (snp/PROVENANCE.md §2).
  assert.deepEqual([...new Set(bad.json.checks.filter((c: any) => !c.ok).map((c: any) => c.id))], ['measurement', 'min-tcb', 'policy.debug']);
  assert.equal((await cli([...base, '--policy', 'debug=maybe'])).code, 1);
});

test('snp verify exits 3 when no VCEK can be found, and 1 on usage errors', async () => {
  const v = byId('azure-milan-v3');
  const r = await cli(['snp', 'verify', vectorPath('snp', v.report)]);
  assert.equal(r.code, 3);
  assert.match(r.err, /SNP_VEK_UNAVAILABLE/);
  const json = await cli(['snp', 'verify', vectorPath('snp', v.report), '--json']);
  assert.equal(json.code, 3);
  assert.deepEqual([json.json.valid, json.json.error.code], [false, 'SNP_VEK_UNAVAILABLE']);
  assert.equal((await cli(['snp', 'verify', vectorPath('snp', v.report), '--at', 'yesterday'])).code, 1);
  assert.equal((await cli(['snp', 'verify', vectorPath('snp', v.report), '--product', 'rome'])).code, 1);
  assert.equal((await cli(['snp', 'verify'])).code, 1);
});

test('snp verify reads the CoCo JSON evidence with its embedded VCEK', async () => {
  const v = byId('coco-e2e-genoa-v3');
  const r = await cli(['snp', 'verify', vectorPath('trustee', 'snp', 'evidence-e2e.json'), '--at', timeOf(v), '--json']);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.json.claims.chip_id, v.fields.chip_id);
});

test('snp verify of a tampered report exits 2 with the signature check failed', async () => {
  const v = byId('neg-gsg-milan-v2-tampered');
  const r = await cli(['snp', 'verify', vectorPath('snp', v.report), '--vcek', vectorPath('snp', v.endorsement_cert), '--at', timeOf(v)]);
  assert.equal(r.code, 2);
  assert.match(r.out, /^FAIL signature/m);
});

test('snp show prints every field, as text and JSON', async () => {
  const v = byId('azure-genoa-v3');
  const text = await cli(['snp', 'show', vectorPath('snp', v.report)]);
  assert.equal(text.code, 0);
  assert.match(text.out, new RegExp(`measurement\\s+${v.fields.measurement}`));
  assert.match(text.out, /product\s+genoa/);
  const json = await cli(['snp', 'show', vectorPath('snp', v.report), '--json']);
  assert.equal(json.json.chip_id, v.fields.chip_id);
  assert.equal(json.json.reported_tcb.raw, `0x${BigInt(v.fields.reported_tcb.raw).toString(16).padStart(16, '0')}`);
  assert.equal(json.json.policy.raw, v.fields.policy);
  const ev = await cli(['snp', 'show', vectorPath('trustee', 'snp', 'evidence-e2e.json'), '--json']);
  assert.deepEqual([ev.json.form, ev.json.cert_chain], ['json', [{ type: 'VCEK', length: 1347, subject: 'SEV-VCEK', issuer: 'SEV-Genoa' }]]);
  assert.match((await cli(['snp', 'show', vectorPath('trustee', 'snp', 'evidence-e2e.json')])).out, /cert_chain\s+VCEK 1347 bytes SEV-VCEK issued by SEV-Genoa/);
  const bad = await cli(['snp', 'show', vectorPath('snp', 'reports', 'index.json')]);
  assert.equal(bad.code, 4);
});

test('snp fetch-vcek fills the Trustee-layout cache from a KDS on loopback, and verify then uses it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'snp-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const served = new Map<string, Uint8Array>();
  for (const id of ['anolis-turin-v5', 'azure-genoa-v3', 'oak-milan-rk-staging-v3']) {
    const v = byId(id);
    const u = new URL(v.kds_url);
    served.set(u.pathname + u.search, new Uint8Array(readVector('snp', v.endorsement_cert)));
  }
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/pkix-cert' }).end(Buffer.from(body));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const id of ['anolis-turin-v5', 'azure-genoa-v3', 'oak-milan-rk-staging-v3']) {
    const v = byId(id);
    const r = await cli(['snp', 'fetch-vcek', vectorPath('snp', v.report), '--cache', dir, '--kds-url', base]);
    assert.equal(r.code, 0, r.err);
    const u = new URL(v.kds_url);
    assert.equal(requests[requests.length - 1], u.pathname + u.search, 'the request is the URL Trustee/snpguest would send');
    const written = r.out.trim();
    assert.ok(written.startsWith(join(dir, 'vcek', u.pathname.split('/').pop()!)), written);
    assert.deepEqual(new Uint8Array(readFileSync(written)), new Uint8Array(readVector('snp', v.endorsement_cert)));
    const ver = await cli(['snp', 'verify', vectorPath('snp', v.report), '--cache', dir, '--at', timeOf(v), '--json']);
    assert.equal(ver.code, 0, ver.out);
  }
  // The generic `vcek.der` name is the fallback Trustee also reads.
  const v = byId('azure-milan-v3');
  const hw = new URL(v.kds_url).pathname.split('/').pop()!;
  rmSync(join(dir, 'vcek', hw), { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'vcek', hw), { recursive: true });
  writeFileSync(join(dir, 'vcek', hw, 'vcek.der'), readVector('snp', v.endorsement_cert));
  assert.equal((await cli(['snp', 'verify', vectorPath('snp', v.report), '--cache', dir, '--at', timeOf(v)])).code, 0);
  // A chip KDS does not know: unavailable (exit 3).
  const miss = await cli(['snp', 'fetch-vcek', vectorPath('snp', 'reports', 'azure-milan-v3b.report.bin'), '--cache', dir, '--kds-url', base]);
  assert.equal(miss.code, 3);
  // A KDS that answers with another chip's certificate is refused.
  served.set(new URL(byId('azure-milan-v3b').kds_url).pathname + new URL(byId('azure-milan-v3b').kds_url).search, new Uint8Array(readVector('snp', 'reports', 'azure-milan-v3.vcek.der')));
  const wrong = await cli(['snp', 'fetch-vcek', vectorPath('snp', 'reports', 'azure-milan-v3b.report.bin'), '--cache', dir, '--kds-url', base]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.err, /SNP_KDS_MISMATCH/);
});
