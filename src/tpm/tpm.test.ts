import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { allOk, failures } from '../formats/check.js';
import { fromBase64, fromHex, toHex } from '../formats/bytes.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import type { RegisterBanks } from '../eventlog/replay.js';
import {
  EK_CERT_NV_INDEX,
  TPM_ALG,
  attestToJson,
  ecdsaFromDer,
  ecdsaToDer,
  encodeAttest,
  encodePcrsFile,
  encodeSignature,
  encodeTpm2bPublic,
  encodeTpmtPublic,
  formatPcrList,
  isRestrictedSigningKey,
  loadEkCertificate,
  objectName,
  parseAttest,
  parsePcrList,
  parsePcrsFile,
  parseSignature,
  parseTpm2bPublic,
  parseTpmtPublic,
  publicKeyObject,
  verifyEkCertificate,
  verifyQuote,
  type TpmSignature,
} from './index.js';

const vectors = readVectorJson('tpm', 'cases.json');
const file = (p: string) => new Uint8Array(readVector('tpm', p));
const hexBanks = (o: Record<string, Record<string, string>>): RegisterBanks =>
  new Map(Object.entries(o).map(([b, m]) => [b, new Map(Object.entries(m).map(([i, v]) => [Number(i), fromHex(v)]))]));
const isTpmFormat = (e: unknown) => e instanceof CocoError && e.kind === 'input' && e.code === 'TPM_FORMAT';
const checkIds = (checks: { id: string; ok: boolean }[]) => Object.fromEntries(checks.map((c) => [c.id, c.ok]));

test('AK public areas parse, re-encode byte for byte, and have the Names tpm2_createak printed', () => {
  for (const [name, ak] of Object.entries<any>(vectors.aks)) {
    const bytes = file(`quotes/${name}.tpm2b_public`);
    assert.equal(toHex(bytes), ak.tpm2b_public_hex);
    const pub = parseTpm2bPublic(bytes);
    assert.deepEqual(encodeTpm2bPublic(pub), bytes);
    assert.equal(toHex(objectName(pub)), ak.name_hex);
    assert.deepEqual(objectName(pub), file(`quotes/${name}.name`));
    assert.equal(pub.objectAttributes, 0x00050072);
    assert.ok(isRestrictedSigningKey(pub));
    // The key matches the PEM tpm2_readpublic wrote.
    assert.ok(publicKeyObject(pub).equals(createPublicKey(readVector('tpm', `quotes/${name}.pem`))));
  }
  const ecc = parseTpm2bPublic(file('quotes/ak-ecc256.tpm2b_public'));
  assert.deepEqual(ecc.type === TPM_ALG.ECC && [ecc.curveId, ecc.scheme], [0x0003, { scheme: TPM_ALG.ECDSA, hash: 0x000b }]);
  const pss = parseTpm2bPublic(file('quotes/ak-rsapss.tpm2b_public'));
  assert.deepEqual(pss.scheme, { scheme: TPM_ALG.RSAPSS, hash: 0x000b });
});

test('every quote vector decodes to the recorded TPMS_ATTEST and TPMT_SIGNATURE fields', () => {
  for (const c of vectors.cases) {
    const a = parseAttest(file(c.files.attest));
    const d = c.decoded_attest;
    assert.equal(toHex(a.qualifiedSigner), d.qualified_signer, c.id);
    assert.equal(toHex(a.extraData), d.extra_data, c.id);
    // t01's byte 55 (inside clock) was flipped after the fields were recorded.
    const clock = Number(a.clockInfo.clock) - (c.tamper?.kind === 'flip-attest-byte' ? 2 ** 32 : 0);
    assert.deepEqual([clock, a.clockInfo.resetCount, a.clockInfo.restartCount, a.clockInfo.safe ? 1 : 0], [d.clock_info.clock, d.clock_info.reset_count, d.clock_info.restart_count, d.clock_info.safe]);
    assert.equal(`0x${a.firmwareVersion.toString(16)}`, d.firmware_version);
    assert.ok(a.attested.type === 'quote');
    assert.deepEqual(a.attested.pcrSelect.map((s) => ({ hash: s.bank, pcrs: s.pcrs })), d.pcr_select.map((s: any) => ({ hash: s.hash, pcrs: s.pcrs })));
    assert.equal(toHex(a.attested.pcrDigest), d.pcr_digest);
    assert.deepEqual(encodeAttest(a), file(c.files.attest));
    assert.equal(attestToJson(a).extraData, d.extra_data);
    const s = parseSignature(file(c.files.signature_tss));
    assert.equal(s.sigAlg, { rsassa: TPM_ALG.RSASSA, rsapss: TPM_ALG.RSAPSS, ecdsa: TPM_ALG.ECDSA }[c.decoded_signature.sig_alg as string]);
    assert.deepEqual(encodeSignature(s), file(c.files.signature_tss));
    if ('sig' in s) assert.equal(toHex(s.sig), c.decoded_signature.sig);
  }
});

test('each quote vector gets its recorded verdict: signature, nonce and pcrDigest as the oracle checked them', () => {
  for (const c of vectors.cases) {
    const ak = parseTpm2bPublic(file(c.ak_files.tpm2b_public));
    const { pcrs } = parsePcrsFile(file(c.files.pcrs_serialized));
    // The serialized file holds the values the case expects (t03's JSON value was altered after quoting).
    const expected = hexBanks(c.expected_pcrs);
    const v = verifyQuote({ attest: file(c.files.attest), signature: parseSignature(file(c.files.signature_tss)), ak, nonce: fromHex(c.nonce), pcrs: expected });
    const ids = checkIds(v.checks);
    assert.deepEqual({ signature: ids.signature, nonce: ids.nonce, pcr_digest: ids['pcr-digest'] }, c.oracle_checks, c.id);
    assert.equal(allOk(v.checks), c.valid, `${c.id}: ${JSON.stringify(failures(v.checks))}`);
    assert.equal(ids['signature-scheme'], true, c.id);
    if (c.id !== 't03') assert.deepEqual(pcrs, expected, c.id);
    if (c.valid) assert.deepEqual(v.quoted, expected);
  }
});

test('RSA-PSS quotes from libtpms (salt = digest length) verify, where tpm2_checkquote 5.4 fails them', () => {
  const q03 = vectors.cases.find((c: any) => c.id === 'q03');
  assert.equal(q03.tpm2_checkquote_rc, 1);
  const v = verifyQuote({ attest: file(q03.files.attest), signature: parseSignature(file(q03.files.signature_tss)), ak: createPublicKey(readVector('tpm', q03.ak_files.pem)), nonce: fromHex(q03.nonce), pcrs: hexBanks(q03.expected_pcrs) });
  assert.ok(allOk(v.checks), JSON.stringify(v.checks));
});

test('plain signatures (raw RSA, DER ECDSA) verify their own attest with the PEM key', () => {
  for (const c of vectors.cases.filter((x: any) => x.valid)) {
    const tss = parseSignature(file(c.files.signature_tss));
    const plain = file(c.files.signature_plain);
    const sig: TpmSignature = tss.sigAlg === TPM_ALG.ECDSA ? { sigAlg: TPM_ALG.ECDSA, hash: tss.hash, ...ecdsaFromDer(plain) } : { ...(tss as Extract<TpmSignature, { sig: Uint8Array }>), sig: plain };
    const v = verifyQuote({ attest: file(c.files.attest_for_plain_signature), signature: sig, ak: createPublicKey(readVector('tpm', c.ak_files.pem)) });
    assert.deepEqual(checkIds(v.checks), { 'attest-type': true, signature: true }, c.id);
    if ('r' in sig) assert.deepEqual(ecdsaToDer(sig.r, sig.s), plain);
  }
});

test('every flipped byte of a quote or its signature is detected', () => {
  const c = vectors.cases.find((x: any) => x.id === 'q02');
  const attest = file(c.files.attest);
  const sigBytes = file(c.files.signature_tss);
  const ak = parseTpm2bPublic(file(c.ak_files.tpm2b_public));
  const nonce = fromHex(c.nonce);
  const pcrs = hexBanks(c.expected_pcrs);
  const verdict = (a: Uint8Array, s: Uint8Array): boolean => {
    try {
      return allOk(verifyQuote({ attest: a, signature: parseSignature(s), ak, nonce, pcrs }).checks);
    } catch (e) {
      assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
      return false;
    }
  };
  assert.equal(verdict(attest, sigBytes), true);
  for (let i = 0; i < attest.length; i++) {
    const a = attest.slice();
    a[i] ^= 0x01;
    assert.equal(verdict(a, sigBytes), false, `attest byte ${i}`);
  }
  for (let i = 0; i < sigBytes.length; i++) {
    const s = sigBytes.slice();
    s[i] ^= 0x01;
    assert.equal(verdict(attest, s), false, `signature byte ${i}`);
  }
});

test('a quote verified with another AK, or whose signature scheme differs from the AK\'s, fails', () => {
  const q01 = vectors.cases.find((x: any) => x.id === 'q01');
  const other = parseTpm2bPublic(file('quotes/ak-rsapss.tpm2b_public'));
  const v = verifyQuote({ attest: file(q01.files.attest), signature: parseSignature(file(q01.files.signature_tss)), ak: other });
  assert.deepEqual(checkIds(v.checks), { 'attest-type': true, signature: false, 'signature-scheme': false });
  const ecc = parseTpm2bPublic(file('quotes/ak-ecc256.tpm2b_public'));
  const w = verifyQuote({ attest: file(q01.files.attest), signature: parseSignature(file(q01.files.signature_tss)), ak: ecc });
  assert.match(failures(w.checks)[0].detail, /RSASSA signature but a ec key/);
});

test('a missing PCR value fails pcr-values and pcr-digest, naming the PCR', () => {
  const q01 = vectors.cases.find((x: any) => x.id === 'q01');
  const pcrs = hexBanks(q01.expected_pcrs);
  pcrs.get('sha256')?.delete(11);
  const v = verifyQuote({ attest: file(q01.files.attest), signature: parseSignature(file(q01.files.signature_tss)), ak: parseTpm2bPublic(file(q01.ak_files.tpm2b_public)), pcrs });
  assert.deepEqual(failures(v.checks).map((c) => c.id), ['pcr-values', 'pcr-digest']);
  assert.match(failures(v.checks)[0].detail, /sha256:11/);
});

test('a GCP Windows AK (RSASSA-SHA1, noDA, auth policy) verifies its quote over all 24 SHA-1 PCRs with an empty nonce', () => {
  const dump = readVectorJson('tpm', 'eventlogs', 'windows_gcp_shielded_vm.json');
  const ak = parseTpmtPublic(fromBase64(dump.AK.Public));
  assert.equal(ak.objectAttributes, 0x00050472);
  assert.equal(ak.authPolicy.length, 32);
  assert.deepEqual(encodeTpmtPublic(ak), fromBase64(dump.AK.Public));
  const quoted = readVectorJson('tpm', 'eventlogs', 'expected.json').logs['windows_gcp_shielded_vm.json'].quoted_pcrs_sha1;
  const pcrs: RegisterBanks = new Map([['sha1', new Map(Object.entries<string>(quoted).map(([i, v]) => [Number(i), fromHex(v)]))]]);
  const q = dump.Quotes?.[0] ?? dump.Quote;
  const v = verifyQuote({ attest: fromBase64(q.Quote), signature: parseSignature(fromBase64(q.Signature)), ak, nonce: new Uint8Array(0), pcrs });
  assert.ok(allOk(v.checks), JSON.stringify(failures(v.checks)));
});

test('the tpm2-tools serialized PCR file round-trips, and bad sizes are TPM_PCRS_FILE errors', () => {
  for (const c of vectors.cases) {
    const bytes = file(c.files.pcrs_serialized);
    const { pcrs, selection } = parsePcrsFile(bytes);
    assert.equal(formatPcrList(selection), c.tpm2_quote_args.pcr_list.replace(/sha256:0,4,7,11\+sha1:0,7/, 'sha256:0,4,7,11+sha1:0,7'));
    assert.deepEqual(encodePcrsFile(pcrs), bytes, c.id);
  }
  const q04 = file('quotes/q04.pcrs');
  assert.equal(q04.length, 132 + 4 + 3 * 532);
  for (const n of [0, 100, 136, q04.length - 1]) assert.throws(() => parsePcrsFile(q04.subarray(0, n)), (e: CocoError) => e.code === 'TPM_PCRS_FILE');
});

test('PCR lists parse in tpm2-tools syntax, with all and several banks', () => {
  assert.deepEqual(parsePcrList('sha256:0,4,7,11+sha1:0,7'), [
    { hash: 0x000b, bank: 'sha256', pcrs: [0, 4, 7, 11] },
    { hash: 0x0004, bank: 'sha1', pcrs: [0, 7] },
  ]);
  assert.equal(parsePcrList('sha1:all')[0].pcrs.length, 24);
  for (const bad of ['', 'sha256', 'md5:0', 'sha256:24', 'sha256:-1', 'sha256:0;1']) assert.throws(() => parsePcrList(bad), (e: CocoError) => e.code === 'TPM_PCR_LIST' && e.kind === 'usage', bad);
});

test('EK certificates from swtpm_setup\'s local CA chain to its root; other roots, times and keys fail', () => {
  const root = new X509Certificate(readVector('tpm', 'ek', 'localca-root.pem'));
  const issuer = new X509Certificate(readVector('tpm', 'ek', 'localca-issuer.pem'));
  const now = new Date('2026-12-01T00:00:00Z');
  for (const f of ['ek-rsa-cert.der', 'ek-ecc-cert.der']) {
    const cert = loadEkCertificate(file(`ek/${f}`));
    const v = verifyEkCertificate(cert, { roots: [root], intermediates: [issuer], now });
    assert.deepEqual(checkIds(v.checks), { 'ek-chain': true, 'ek-validity': true, 'ek-usage': true }, f);
    assert.deepEqual(v.chain.slice(1), ['CN=swtpm-localca', 'CN=swtpm-localca-rootca']);
    assert.equal(checkIds(verifyEkCertificate(cert, { roots: [issuer], now }).checks)['ek-chain'], true, 'an intermediate may be configured as the anchor');
    assert.equal(checkIds(verifyEkCertificate(cert, { roots: [root], now }).checks)['ek-chain'], false, 'without the issuing CA there is no chain');
    assert.equal(checkIds(verifyEkCertificate(cert, { roots: [root], intermediates: [issuer], now: new Date('2020-01-01T00:00:00Z') }).checks)['ek-validity'], false);
  }
  // The RSA EK's certificate certifies the EK public key the swtpm reported, and not an AK.
  const rsa = loadEkCertificate(file('ek/ek-rsa-cert.der'));
  assert.ok(rsa.publicKey.equals(createPublicKey(readVector('tpm', 'ek', 'ek-rsa.pem'))));
  const ak = parseTpm2bPublic(file('quotes/ak-rsa.tpm2b_public'));
  assert.equal(checkIds(verifyEkCertificate(rsa, { roots: [root], intermediates: [issuer], now, ekPublic: ak }).checks)['ek-public'], false);
  assert.equal(EK_CERT_NV_INDEX.rsa2048, 0x01c00002);
  assert.throws(() => loadEkCertificate(new Uint8Array([0x30, 0x82, 0, 5, 1, 2])), (e: CocoError) => e.code === 'TPM_EK_CERT');
});

test('truncated, oversized and random TPM structures are TPM_FORMAT errors, never crashes', () => {
  const attest = file('quotes/q02.attest');
  const sig = file('quotes/q02.sig');
  const pub = file('quotes/ak-rsa.tpm2b_public');
  for (let n = 0; n < attest.length; n++) assert.throws(() => parseAttest(attest.subarray(0, n)), isTpmFormat, `attest ${n}`);
  for (let n = 0; n < sig.length; n++) assert.throws(() => parseSignature(sig.subarray(0, n)), isTpmFormat, `sig ${n}`);
  for (let n = 0; n < pub.length; n++) assert.throws(() => parseTpm2bPublic(pub.subarray(0, n)), isTpmFormat, `public ${n}`);
  assert.throws(() => parseAttest(Uint8Array.from([...attest, 0])), (e: CocoError) => isTpmFormat(e) && /after the end/.test(e.message));
  const badMagic = attest.slice();
  badMagic[0] = 0;
  assert.throws(() => parseAttest(badMagic), (e: CocoError) => isTpmFormat(e) && /TPM_GENERATED_VALUE/.test(e.message));
  const bigNonce = encodeAttest({ ...parseAttest(attest), extraData: new Uint8Array(67) });
  assert.throws(() => parseAttest(bigNonce), (e: CocoError) => isTpmFormat(e) && /extraData has 67 bytes/.test(e.message));
  const swallow = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof CocoError && e.kind !== 'internal', String(e));
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
      swallow(() => parseAttest(b));
      swallow(() => parseSignature(b));
      swallow(() => parseTpm2bPublic(b));
      swallow(() => parseTpmtPublic(b));
      swallow(() => parsePcrsFile(b));
      swallow(() => ecdsaFromDer(b));
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: pub.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const p = pub.slice();
      p[i] ^= x;
      swallow(() => publicKeyObject(parseTpm2bPublic(p)));
    }),
    { numRuns: 300 },
  );
});
