/**
 * A vTPM guest whose PCR 11 is not the one registered from its UKI: a real software TPM extended with a boot's
 * events quotes, the guest sends the event log along, the KBS (Trustee's default TPM policy, an affirming
 * resource policy) refuses the secret, and the attestation's decision record names the first PCR 11 event
 * that differs from what the registered UKI predicts. `cocokit tpm checkquote --reference-provenance` on the
 * same quote, log and record prints the same sentence. A guest booted with the UKI's own events is released.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultVerifiers } from '../../attestation/verifiers.js';
import { KbsAdminClient, signAdminToken } from '../../client/admin-client.js';
import { bufferIO } from '../../cli/io.js';
import { run } from '../../cli/program.js';
import { fromBase64, toHex, utf8 } from '../../formats/bytes.js';
import { encodeCryptoAgileLog, parseEventLog } from '../../eventlog/index.js';
import { loggedEvents } from '../../measure/explain-events.js';
import { referenceValuesFromArtifacts } from '../../measure/from-artifacts.js';
import { builtinResourcePolicy } from '../../policy/builtin.js';
import { policyEvaluators } from '../../policy/index.js';
import { openKbs } from '../../server/kbs.js';
import { adminKbsConfig } from '../../test-support/admin-kbs.js';
import { readVector, readVectorJson, toolMissing, vectorPath } from '../../test-support/vectors.js';
import { startSwtpm, type Swtpm } from '../../test-support/swtpm.js';
import { TpmClient } from '../../tpm/client.js';
import { encodePcrsFile } from '../../tpm/pcrs-file.js';
import { openTransport } from '../../tpm/transport.js';
import { TpmAttester } from './attester.js';

const skip = toolMissing('swtpm');
const SECRET = 'vtpm-explained';
const dir = mkdtempSync(join(tmpdir(), 'tpm-explain-'));
const tpms: Swtpm[] = [];
after(async () => {
  for (const t of tpms) await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ukiFile = vectorPath('uki', readVectorJson<{ pe_cases: { pe_file: string }[] }>('uki', 'cases.json').pe_cases[0].pe_file);
const EV_IPL = 0xd;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO();
  const code = await run(argv, io);
  return { code, out: io.out(), err: io.err() };
}

/** A "boot": a fresh swtpm whose SHA-256 PCRs are extended with `events`, and the crypto-agile log of them. */
async function boot(name: string, events: Array<{ index: number; digest: Uint8Array }>): Promise<{ tpm: Swtpm; logPath: string }> {
  const tpm = await startSwtpm();
  tpms.push(tpm);
  const c = new TpmClient(await openTransport(tpm.tcti));
  try {
    for (const e of events) await c.pcrExtend(e.index, [{ alg: 0x000b, digest: e.digest }]);
  } finally {
    await c.transport.close();
  }
  const logPath = join(dir, `${name}.log`);
  writeFileSync(logPath, encodeCryptoAgileLog({ algorithms: [{ alg: 0x000b, size: 32 }] }, events.map((e) => ({ index: e.index, type: EV_IPL, digests: [{ alg: 0x000b, digest: e.digest }], data: new Uint8Array(0) }))));
  return { tpm, logPath };
}

test('a vTPM booted with another UKI than the registered one: denied, and the decision names the PCR 11 event; checkquote says the same', { skip, timeout: 180_000 }, async () => {
  // The shared synthetic boot log's PCR 11 events: a UKI whose .linux section is another kernel.
  const otherUki = loggedEvents(parseEventLog(new Uint8Array(readVector('tpm', 'eventlog.bin'))), 11, 'sha256');
  const other = await boot('other', otherUki.map((e) => ({ index: 11, digest: Buffer.from(e.digest, 'hex') })));
  const computed = await referenceValuesFromArtifacts({ uki: new Uint8Array(readFileSync(ukiFile)) });
  const predicted = computed.provenance.tpm_pcr11.events!;
  const own = await boot('own', predicted.events.map((e) => ({ index: 11, digest: Buffer.from(e.digest, 'hex') })));

  const data = mkdtempSync(join(dir, 'kbs-'));
  const { config, adminKeyPem, adminKeyPath } = adminKbsConfig(data);
  const kbs = await openKbs({ config, ...policyEvaluators(), verifiers: defaultVerifiers() });
  try {
    const url = await kbs.listen(0, '127.0.0.1');
    const admin = new KbsAdminClient(url, { privateKeyPem: adminKeyPem });
    await admin.setResource('default/key/disk', utf8.encode(SECRET));
    await admin.setResourcePolicy(builtinResourcePolicy('affirming'));
    const akOther = await new TpmAttester({ tcti: other.tpm.tcti }).akPublic();
    const akOwn = await new TpmAttester({ tcti: own.tpm.tcti }).akPublic();
    await admin.setReferenceValues({ trusted_aks: [akOther, akOwn] });
    // PCR 11 registered from the UKI: the operator never sees a hex string.
    const adminArgs = ['kbs', 'config', '--url', url, '--auth-private-key', adminKeyPath];
    const set = await cli([...adminArgs, 'set-reference-value', 'tpm_pcr11', '--claim', 'tpm_pcr11', '--from-artifacts', '--uki', ukiFile]);
    assert.equal(set.code, 0, set.err);

    // The guest, through the CLI, sends its quote and its event log: refused by the resource policy.
    const guest = (b: { tpm: Swtpm; logPath: string }) => cli(['kbs', 'get-resource', '--url', url, '--path', 'default/key/disk', '--tee', 'tpm', '--tcti', b.tpm.tcti, '--tpm-event-log', b.logPath]);
    const denied = await guest(other);
    assert.notEqual(denied.code, 0);
    assert.match(denied.err, /PolicyDeny/);
    const token = await signAdminToken(adminKeyPem);
    const latest = async () => JSON.parse((await kbs.app.inject({ method: 'GET', url: '/kbs/v0/decisions?type=attestation&limit=1', headers: { authorization: `Bearer ${token}` } })).body)[0];
    const sentence = `PCR 11 event 2 (.linux section) differs: expected sha256 ${predicted.events[1].digest}, measured ${otherUki[1].digest}`;
    const attested = await latest();
    assert.equal(attested.tee, 'tpm');
    assert.deepEqual(attested.explanations, { tpm_pcr11: sentence });
    assert.match(attested.reference_values.tpm_pcr11, /version 1, uki-pcr11$/);

    // Offline, on the same kind of quote: checkquote with the record as get-reference-value prints it.
    const record = await cli([...adminArgs, 'get-reference-value', 'tpm_pcr11', '--provenance']);
    assert.equal(record.code, 0, record.err);
    writeFileSync(join(dir, 'record.json'), record.out);
    const nonce = randomBytes(32);
    const ev = (await new TpmAttester({ tcti: other.tpm.tcti, eventLogPath: other.logPath }).getEvidence(nonce)) as { ak_public: string; tpm_quote: { message: string; signature: string; pcrs: string[] }; event_log: string };
    writeFileSync(join(dir, 'ak.pem'), createPublicKey({ key: Buffer.from(fromBase64(ev.ak_public)), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }));
    writeFileSync(join(dir, 'quote.msg'), fromBase64(ev.tpm_quote.message));
    writeFileSync(join(dir, 'quote.sig'), fromBase64(ev.tpm_quote.signature));
    writeFileSync(join(dir, 'quote.pcrs'), encodePcrsFile(new Map([['sha256', new Map(ev.tpm_quote.pcrs.map((h, i) => [i, Buffer.from(h, 'hex')] as const))]])));
    assert.deepEqual(fromBase64(ev.event_log), new Uint8Array(readFileSync(other.logPath)));
    const cq = (rec: string) =>
      cli(['tpm', 'checkquote', '-u', join(dir, 'ak.pem'), '-m', join(dir, 'quote.msg'), '-s', join(dir, 'quote.sig'), '-f', join(dir, 'quote.pcrs'), '-q', toHex(nonce), '-e', other.logPath, '--reference-provenance', rec, '--explain']);
    const offline = await cq(join(dir, 'record.json'));
    assert.equal(offline.code, 1, offline.err);
    assert.ok(offline.err.includes(`ERROR: reference-events: ${sentence}`), offline.err);
    assert.match(offline.out, /ok\s+signature/);
    assert.match(offline.out, /ok\s+eventlog/);

    // The guest booted with the registered UKI's events gets the secret; nothing to explain.
    const released = await guest(own);
    assert.equal(released.code, 0, released.err);
    assert.equal(released.out, SECRET);
    const again = await latest();
    assert.equal(again.explanations, undefined);
    assert.equal(computed.values.tpm_pcr11, toHex(await pcr11(own.tpm)));
  } finally {
    await kbs.close();
  }
});

async function pcr11(tpm: Swtpm): Promise<Uint8Array> {
  const c = new TpmClient(await openTransport(tpm.tcti));
  try {
    const v = await c.pcrRead([{ hash: 0x000b, pcrs: [11] }]);
    return v.get('sha256')!.get(11)!;
  } finally {
    await c.transport.close();
  }
}
