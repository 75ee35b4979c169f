import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { CocoError } from '../errors.js';
import { allOk, failures } from '../formats/check.js';
import { readVector, toolMissing } from '../test-support/vectors.js';
import { startSwtpm, readPem } from '../test-support/swtpm.js';
import { encodeCryptoAgileLog, parseEventLog, replayEventLog, type RegisterBanks } from '../eventlog/index.js';
import {
  EK_CERT_NV_INDEX,
  TPM_RH,
  TpmClient,
  akTemplate,
  loadEkCertificate,
  objectName,
  openTransport,
  parsePcrList,
  parseTcti,
  srkTemplate,
  verifyEkCertificate,
  verifyQuote,
  type AkKind,
} from './index.js';

const skip = toolMissing('swtpm');

test('TCTI strings name a device or a swtpm socket; others are usage errors', () => {
  assert.deepEqual(parseTcti('device:/dev/tpmrm0'), { kind: 'device', path: '/dev/tpmrm0' });
  assert.deepEqual(parseTcti('device'), { kind: 'device', path: '/dev/tpmrm0' });
  assert.deepEqual(parseTcti('swtpm:host=127.0.0.1,port=2321'), { kind: 'swtpm', host: '127.0.0.1', port: 2321 });
  assert.deepEqual(parseTcti('swtpm:path=/run/tpm.sock'), { kind: 'swtpm', path: '/run/tpm.sock' });
  for (const bad of ['mssim:port=1', 'swtpm:port=0', 'swtpm:port=x', 'swtpm:foo=1']) assert.throws(() => parseTcti(bad), (e: CocoError) => e.code === 'TPM_TCTI' && e.kind === 'usage', bad);
});

test('a swtpm extended from a synthetic event log quotes PCRs that match the replay, with every AK kind', { skip, timeout: 120_000 }, async () => {
  const tpm = await startSwtpm();
  const client = new TpmClient(await openTransport(tpm.tcti));
  try {
    const banks = await client.pcrBanks();
    assert.ok(banks.some((b) => b.bank === 'sha256'));
    // Extend the TPM with the events of the shared synthetic log, in both its sha1 and sha256 banks.
    const log = parseEventLog(new Uint8Array(readVector('tpm', 'eventlog.bin')));
    const allocated = new Set(banks.filter((b) => b.pcrs.length > 0).map((b) => b.hash));
    for (const e of log.events.slice(1)) {
      if (e.type === 0x3) continue;
      await client.pcrExtend(e.index, e.digests.filter((d) => allocated.has(d.alg)).map((d) => ({ alg: d.alg, digest: d.digest })));
    }
    const selection = parsePcrList('sha256:0,1,2,3,4,5,6,7,11,12+sha1:0,7');
    const pcrs = await client.pcrRead(selection);
    const replay = replayEventLog(log, { banks: ['sha256', 'sha1'] });
    for (const s of selection) for (const p of s.pcrs) assert.deepEqual(pcrs.get(s.bank)?.get(p), replay.banks.get(s.bank)?.get(p), `${s.bank}:${p}`);

    const srk = await client.createPrimary(TPM_RH.OWNER, srkTemplate());
    for (const kind of ['rsa', 'rsapss', 'ecc256', 'ecc384'] as AkKind[]) {
      const created = await client.create(srk.handle, akTemplate(kind));
      const ak = await client.load(srk.handle, created);
      assert.deepEqual(ak.name, objectName(created.publicBytes), kind);
      const read = await client.readPublic(ak.handle);
      assert.deepEqual(read.name, ak.name);
      const nonce = randomBytes(32);
      const quote = await client.quote(ak.handle, nonce, selection);
      const v = verifyQuote({ attest: quote.attest, signature: quote.signature, ak: read.public, nonce, pcrs });
      assert.ok(allOk(v.checks), `${kind}: ${JSON.stringify(failures(v.checks))}`);
      // The same quote under a wrong nonce, or with the AK of another kind, fails.
      assert.equal(allOk(verifyQuote({ attest: quote.attest, signature: quote.signature, ak: read.public, nonce: randomBytes(32), pcrs }).checks), false);
      await client.flush(ak.handle);
    }
    await client.flush(srk.handle);
    await assert.rejects(client.flush(srk.handle), (e: CocoError) => e.code === 'TPM_RC' && /0x[0-9a-f]+/.test(e.message));
  } finally {
    await client.transport.close();
    await tpm.stop();
  }
});

test('EK certificates read from a manufactured swtpm\'s NV chain to its local CA and certify its EK', { skip: skip || toolMissing('swtpm_setup'), timeout: 120_000 }, async () => {
  const tpm = await startSwtpm({ ekCerts: true });
  const client = new TpmClient(await openTransport(tpm.tcti));
  try {
    const root = new X509Certificate(readPem(tpm.caRoot as string));
    const issuer = new X509Certificate(readPem(tpm.caIssuer as string));
    for (const index of [EK_CERT_NV_INDEX.rsa2048, EK_CERT_NV_INDEX.eccP384]) {
      const der = await client.nvRead(index);
      const cert = loadEkCertificate(der);
      const v = verifyEkCertificate(cert, { roots: [root], intermediates: [issuer], now: new Date() });
      assert.ok(allOk(v.checks), JSON.stringify(v.checks));
      // Another CA's root (the shared vectors') does not anchor it.
      const other = new X509Certificate(readVector('tpm', 'ek', 'localca-root.pem'));
      assert.equal(allOk(verifyEkCertificate(cert, { roots: [other], intermediates: [issuer], now: new Date() }).checks), false);
    }
    // NV write and read back through the same client, in several chunks (libtpms allows 2048-byte indices).
    const blob = randomBytes(2000);
    await client.nvDefine(0x01400001, blob.length);
    await client.nvWrite(0x01400001, blob);
    assert.deepEqual(await client.nvRead(0x01400001, 'owner'), new Uint8Array(blob));
  } finally {
    await client.transport.close();
    await tpm.stop();
  }
});

test('a quote replayed against the PCRs of a TPM that saw a different log fails pcr-digest', { skip, timeout: 60_000 }, async () => {
  const tpm = await startSwtpm();
  const client = new TpmClient(await openTransport(tpm.tcti));
  try {
    const digest = new Uint8Array(32).fill(0xab);
    await client.pcrExtend(11, [{ alg: 0x000b, digest }]);
    const synthetic = parseEventLog(encodeCryptoAgileLog({ algorithms: [{ alg: 0x000b, size: 32 }] }, [{ index: 11, type: 0xd, digests: [{ alg: 0x000b, digest }], data: new Uint8Array(0) }]));
    const sel = parsePcrList('sha256:11');
    const srk = await client.createPrimary(TPM_RH.OWNER, srkTemplate());
    const created = await client.create(srk.handle, akTemplate('ecc256'));
    const ak = await client.load(srk.handle, created);
    const nonce = randomBytes(16);
    const quote = await client.quote(ak.handle, nonce, sel);
    const replayed: RegisterBanks = replayEventLog(synthetic).banks;
    assert.ok(allOk(verifyQuote({ attest: quote.attest, signature: quote.signature, ak: created.public, nonce, pcrs: replayed }).checks));
    const other = parseEventLog(encodeCryptoAgileLog({ algorithms: [{ alg: 0x000b, size: 32 }] }, [{ index: 11, type: 0xd, digests: [{ alg: 0x000b, digest: new Uint8Array(32).fill(0xac) }], data: new Uint8Array(0) }]));
    const v = verifyQuote({ attest: quote.attest, signature: quote.signature, ak: created.public, nonce, pcrs: replayEventLog(other).banks });
    assert.deepEqual(failures(v.checks).map((c) => c.id), ['pcr-digest']);
  } finally {
    await client.transport.close();
    await tpm.stop();
  }
});
