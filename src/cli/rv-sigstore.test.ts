/**
 * From a signed SBOM to a released secret: a Sigstore bundle (throwaway trusted root) carrying the SNP
 * measurement of the shared OVMF launch is verified and registered with its provenance
 * (`kbs workload register --statement`, `rv import --workload`); the registration's policy releases only when
 * the build identity signed it, so a guest launched with that measurement under a `cocokit snp test-root`
 * chip gets the secret, and the same measurement signed by another identity releases nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex } from '../formats/bytes.js';
import { hostDataForUuid } from '../attestation/workload.js';
import { CYCLONEDX_PREDICATE } from '../attestation/signed-statement.js';
import { readVectorJson } from '../test-support/vectors.js';
import { startTestRootSetting } from '../test-support/test-root-guest.js';
import { cycloneDxStatement, makeBundle, makeDeployment } from '../test-support/sigstore-root.js';



const { dir, url, cli, guest } = await startTestRootSetting('rv-sigstore-');

// sev-snp-measure's value for the shared OVMF, 4 EPYC-Milan vCPUs, features 0x21 (measure-cases.json, s04).
const S04 = readVectorJson<{ cases: { id: string; expected: string }[] }>('snp', 'measure-cases.json').cases.find((c) => c.id === 's04-debian-4-milan-gf21')!.expected;
const BUILDER = { san: 'https://github.com/acme/guest-image/.github/workflows/release.yml@refs/heads/main', issuer: 'https://token.actions.githubusercontent.com' };
const OTHER = { san: 'https://github.com/acme/guest-image/.github/workflows/experiment.yml@refs/heads/wip', issuer: BUILDER.issuer };
const statement = cycloneDxStatement({ name: 'ovmf', version: 'edk2-stable202405' }, S04);
const statementSha256 = createHash('sha256').update(JSON.stringify(statement)).digest('hex');

const d = await makeDeployment();
writeFileSync(join(dir, 'trusted_root.json'), JSON.stringify(d.trustedRoot));
writeFileSync(join(dir, 'sbom.sigstore.json'), JSON.stringify(await makeBundle(d, { statement, who: BUILDER })));
writeFileSync(join(dir, 'sbom-other.sigstore.json'), JSON.stringify(await makeBundle(d, { statement, who: OTHER })));
writeFileSync(
  join(dir, 'signed-by-build.rego'),
  `package workload

default allow := false

# Release only to a guest whose measurement came from an SBOM the release workflow signed.
allow if {
	input.measurement == data.measurement
	input.provenance.measurement.signer == ${JSON.stringify(BUILDER.san)}
	input.provenance.measurement.signer_issuer == ${JSON.stringify(BUILDER.issuer)}
	"openssl@3.0.13" in input.provenance.measurement.components
}
`,
);
const adminCli = ['kbs', 'workload', '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x'];
const trustFlags = (who: { san: string; issuer: string }) => ['--trusted-root', 'trusted_root.json', '--certificate-identity', who.san, '--certificate-oidc-issuer', who.issuer];

test('a measurement from an SBOM the build identity signed is registered with its provenance and releases the secret', async () => {
  const id = randomUUID();
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--workload-id', id, '--statement', 'sbom.sigstore.json', ...trustFlags(BUILDER), '--policy-file', 'signed-by-build.rego', '--resource', 'passphrase=signed-build']);
  assert.equal(reg.code, 0, reg.err);
  assert.match(reg.err, new RegExp(`verified statement: signer ${BUILDER.san.replace(/[.?]/g, '\\$&')}`));
  const shown = JSON.parse((await cli([...adminCli, 'show', id])).out) as { reference_values: Record<string, unknown>; provenance: Record<string, Record<string, unknown>> };
  assert.equal(shown.reference_values.measurement, S04);
  const p = shown.provenance.measurement;
  assert.equal(p.algorithm, 'signed-statement');
  assert.equal(p.signer, BUILDER.san);
  assert.equal(p.signer_issuer, BUILDER.issuer);
  assert.deepEqual(p.inputs, { statement: statementSha256 });
  assert.deepEqual(p.parameters, { predicate_type: CYCLONEDX_PREDICATE, subjects: statement.subject });
  assert.deepEqual(p.components, ['ovmf@edk2-stable202405', 'openssl@3.0.13']);
  assert.equal(p.registered_by, 'role=admin sub=admin');
  assert.equal(await guest({ hostData: hostDataForUuid(id), measurement: fromHex(S04) }), 'signed-build');
});

test('the same measurement signed by another identity releases nothing; rv import --workload with the build\'s bundle fixes it', async () => {
  const id = randomUUID();
  // The operator accepted the other identity at import time; the policy still asks for the build identity.
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--workload-id', id, '--statement', 'sbom-other.sigstore.json', ...trustFlags(OTHER), '--policy-file', 'signed-by-build.rego', '--resource', 'passphrase=second']);
  assert.equal(reg.code, 0, reg.err);
  const hostData = hostDataForUuid(id);
  await assert.rejects(guest({ hostData, measurement: fromHex(S04) }), /policy denied: .*signer/);
  const imp = await cli(['rv', 'import', 'sbom.sigstore.json', ...trustFlags(BUILDER), '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x', '--workload', id]);
  assert.equal(imp.code, 0, imp.err);
  assert.match(imp.err, new RegExp(`workload ${id} now at version 2`));
  const shown = JSON.parse((await cli([...adminCli, 'show', id])).out) as { provenance: Record<string, Record<string, unknown>>; version: number };
  assert.equal(shown.provenance.measurement.signer, BUILDER.san);
  assert.equal(shown.provenance.measurement.version, 2);
  assert.equal(await guest({ hostData, measurement: fromHex(S04) }), 'second');
  // Another measurement than the signed one is still refused.
  await assert.rejects(guest({ hostData, measurement: fromHex('ab'.repeat(48)) }), /policy denied/);
});

test('rv import and register --statement refuse untrusted, altered or mismatched bundles with the check named; nothing changes', async () => {
  const id = randomUUID();
  assert.equal((await cli([...adminCli, 'register', '--tee', 'snp', '--workload-id', id, '--reference-value', `measurement=${'cd'.repeat(48)}`, '--resource', 'passphrase=x'])).code, 0);
  const base = ['rv', 'import', '--url', url, '--auth-private-key', 'admin.pem', '--namespace', 'tenant-x', '--workload', id];
  const wrongId = await cli([...base, 'sbom-other.sigstore.json', ...trustFlags(BUILDER)]);
  assert.equal(wrongId.code, 5, wrongId.err);
  assert.match(wrongId.err, /identity check failed/);
  const bundle = JSON.parse(readFileSync(join(dir, 'sbom.sigstore.json'), 'utf8')) as { dsseEnvelope: { payload: string } };
  bundle.dsseEnvelope.payload = Buffer.from(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString().replace(S04, 'ab'.repeat(48))).toString('base64');
  writeFileSync(join(dir, 'tampered.sigstore.json'), JSON.stringify(bundle));
  const tampered = await cli([...base, 'tampered.sigstore.json', ...trustFlags(BUILDER)]);
  assert.equal(tampered.code, 2, tampered.err);
  assert.match(tampered.err, /tlog check failed/);
  const other = await makeDeployment();
  writeFileSync(join(dir, 'other-root.json'), JSON.stringify(other.trustedRoot));
  const untrusted = await cli([...base, 'sbom.sigstore.json', '--trusted-root', 'other-root.json', '--certificate-identity', BUILDER.san, '--certificate-oidc-issuer', BUILDER.issuer]);
  assert.equal(untrusted.code, 2, untrusted.err);
  assert.match(untrusted.err, /(certificate|tlog) check failed/);
  const noRoot = await cli([...base, 'sbom.sigstore.json', '--trusted-key', 'admin.pub.pem']);
  assert.equal(noRoot.code, 1);
  assert.match(noRoot.err, /is a Sigstore bundle: verify it with --trusted-root/);
  const noIssuer = await cli([...base, 'sbom.sigstore.json', '--trusted-root', 'trusted_root.json', '--certificate-identity', BUILDER.san]);
  assert.equal(noIssuer.code, 1);
  assert.match(noIssuer.err, /--certificate-oidc-issuer/);
  const badRoot = await cli([...base, 'sbom.sigstore.json', '--trusted-root', 'admin.pem', ...trustFlags(BUILDER).slice(2)]);
  assert.equal(badRoot.code, 4);
  assert.match(badRoot.err, /trusted-root check failed/);
  const missing = await cli([...base, 'nope.json', ...trustFlags(BUILDER)]);
  assert.equal(missing.code, 11);
  const unknown = await cli([...base.slice(0, -1), randomUUID(), 'sbom.sigstore.json', ...trustFlags(BUILDER)]);
  assert.equal(unknown.code, 8, unknown.err);
  const reg = await cli([...adminCli, 'register', '--tee', 'snp', '--statement', 'sbom-other.sigstore.json', ...trustFlags(BUILDER), '--resource', 'passphrase=y']);
  assert.equal(reg.code, 5);
  assert.match(reg.err, /identity check failed/);
  const contra = await cli([...adminCli, 'register', '--tee', 'snp', '--statement', 'sbom.sigstore.json', ...trustFlags(BUILDER), '--reference-value', `measurement=${'00'.repeat(48)}`, '--resource', 'passphrase=y']);
  assert.equal(contra.code, 1);
  assert.match(contra.err, /contradicts/);
  const shown = JSON.parse((await cli([...adminCli, 'show', id])).out) as { reference_values: Record<string, unknown>; version: number; provenance?: unknown };
  assert.deepEqual(shown.reference_values, { measurement: 'cd'.repeat(48) });
  assert.equal(shown.version, 1);
  assert.equal(shown.provenance, undefined);
  // --dry-run verifies and prints the provenance without a KBS.
  const dry = await cli(['rv', 'import', 'sbom.sigstore.json', ...trustFlags(BUILDER), '--dry-run']);
  assert.equal(dry.code, 0, dry.err);
  const out = JSON.parse(dry.out) as { reference_values: unknown; provenance: Record<string, unknown> };
  assert.deepEqual(out.reference_values, { measurement: [S04] });
  assert.equal(out.provenance.signer, BUILDER.san);
  assert.deepEqual(out.provenance.inputs, { statement: statementSha256 });
});
