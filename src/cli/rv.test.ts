/** `cocokit rv import`: a signed statement of expected measurements lands in the RVPS; untrusted or altered ones do not. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COCOKIT_PREDICATE, INTOTO_PAYLOAD_TYPE, dssePae, keyIdentity } from '../attestation/signed-statement.js';
import { startKbs } from '../server/test-harness.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'rv-import-'));
const h = await startKbs();
after(async () => {
  await h.stop();
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync(join(dir, 'admin.pem'), h.adminKeyPem);

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir });
}

type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const build = (await promisify(generateKeyPair)('ec', { namedCurve: 'P-384' })) as Pair;
const other = (await promisify(generateKeyPair)('ed25519')) as Pair;
writeFileSync(join(dir, 'build.pub'), build.publicKey.export({ type: 'spki', format: 'pem' }));
writeFileSync(join(dir, 'other.pub'), other.publicKey.export({ type: 'spki', format: 'pem' }));

const MEASUREMENT = '5a'.repeat(48);
const payload = Buffer.from(
  JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'guest-image', digest: { sha256: '11'.repeat(32) } }],
    predicateType: COCOKIT_PREDICATE,
    predicate: { reference_values: { snp_launch_measurement: [MEASUREMENT] } },
  }),
);
const sig = sign('sha384', dssePae(INTOTO_PAYLOAD_TYPE, payload), build.privateKey).toString('base64');
writeFileSync(join(dir, 'stmt.dsse.json'), JSON.stringify({ payloadType: INTOTO_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: '', sig }] }));

test('rv import verifies the statement, registers its values and prints signer and digest', async () => {
  const r = await cli(['rv', 'import', 'stmt.dsse.json', '--trusted-key', 'other.pub', '--trusted-key', 'build.pub', '--url', h.url, '--auth-private-key', 'admin.pem']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { reference_values: unknown; provenance: Record<string, unknown> };
  assert.deepEqual(out.reference_values, { snp_launch_measurement: [MEASUREMENT] });
  assert.equal(out.provenance.signer, keyIdentity(build.publicKey));
  assert.deepEqual(out.provenance.inputs, { statement: (await import('node:crypto')).createHash('sha256').update(payload).digest('hex') });
  const got = await cli(['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'get-reference-value', 'snp_launch_measurement']);
  assert.deepEqual(JSON.parse(got.out), [MEASUREMENT]);
});

test('an untrusted signer or an altered payload is refused, the check named, nothing registered', async () => {
  const untrusted = await cli(['rv', 'import', 'stmt.dsse.json', '--trusted-key', 'other.pub', '--url', h.url, '--auth-private-key', 'admin.pem']);
  assert.notEqual(untrusted.code, 0);
  assert.match(untrusted.err, /signature check failed/);
  const evil = Buffer.from(payload.toString().replace(MEASUREMENT, '00'.repeat(48)));
  writeFileSync(join(dir, 'evil.json'), JSON.stringify({ payloadType: INTOTO_PAYLOAD_TYPE, payload: evil.toString('base64'), signatures: [{ keyid: '', sig }] }));
  const tampered = await cli(['rv', 'import', 'evil.json', '--trusted-key', 'build.pub', '--url', h.url, '--auth-private-key', 'admin.pem']);
  assert.notEqual(tampered.code, 0);
  assert.match(tampered.err, /signature check failed/);
  const got = await cli(['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'get-reference-value', 'snp_launch_measurement']);
  assert.ok(!got.out.includes('00'.repeat(48)));
  const noKey = await cli(['rv', 'import', 'stmt.dsse.json', '--dry-run']);
  assert.equal(noKey.code, 1);
  assert.match(noKey.err, /needs --trusted-key/);
  const notJson = await cli(['rv', 'import', 'build.pub', '--trusted-key', 'build.pub', '--dry-run']);
  assert.match(notJson.err, /envelope check failed/);
  const missing = await cli(['rv', 'import', 'nope.json', '--trusted-key', 'build.pub', '--dry-run']);
  assert.equal(missing.code, 11);
  const dry = await cli(['rv', 'import', 'stmt.dsse.json', '--trusted-key', 'build.pub', '--dry-run']);
  assert.equal(dry.code, 0, dry.err);
});

test('a Sigstore bundle lands in the RVPS with its signer, issuer, statement digest and components as the record\'s provenance', async () => {
  const { makeBundle, makeDeployment } = await import('../test-support/sigstore-root.js');
  const d = await makeDeployment();
  const who = { san: 'mailto:release@example.com', issuer: 'https://accounts.example.com' };
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'guest.efi', digest: { sha256: '22'.repeat(32) } }],
    predicateType: 'https://cyclonedx.org/bom',
    predicate: { components: [{ name: 'kernel', version: '6.8', properties: [{ name: 'cocokit:reference-value:tpm_pcr11', value: '6b'.repeat(32) }] }] },
  };
  writeFileSync(join(dir, 'trusted_root.json'), JSON.stringify(d.trustedRoot));
  writeFileSync(join(dir, 'uki.sigstore.json'), JSON.stringify(await makeBundle(d, { statement, who })));
  const r = await cli(['rv', 'import', 'uki.sigstore.json', '--trusted-root', 'trusted_root.json', '--certificate-identity', who.san, '--certificate-oidc-issuer', who.issuer, '--url', h.url, '--auth-private-key', 'admin.pem']);
  assert.equal(r.code, 0, r.err);
  const { KbsAdminClient } = await import('../client/admin-client.js');
  const rec = await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).getReferenceValueRecord('tpm_pcr11');
  assert.deepEqual(rec.value, ['6b'.repeat(32)]);
  const p = rec.provenance as Record<string, unknown>;
  assert.equal(p.algorithm, 'signed-statement');
  assert.equal(p.signer, who.san);
  assert.equal(p.signer_issuer, who.issuer);
  // The one provenance shape, as a workload registration keeps it: the statement is the input.
  assert.deepEqual(p.inputs, { statement: (await import('node:crypto')).createHash('sha256').update(JSON.stringify(statement)).digest('hex') });
  assert.deepEqual(p.parameters, { predicate_type: 'https://cyclonedx.org/bom', subjects: statement.subject });
  assert.deepEqual(p.components, ['kernel@6.8']);
  // A keyed statement's record names the key.
  const keyed = await new KbsAdminClient(h.url, { privateKeyPem: h.adminKeyPem }).getReferenceValueRecord('snp_launch_measurement');
  assert.equal((keyed.provenance as Record<string, unknown>).signer, keyIdentity(build.publicKey));
});
