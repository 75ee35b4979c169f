import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import {
  REPORT_SIZE,
  decodeKeyInfo,
  decodePlatformInfo,
  decodePolicy,
  formatVersion,
  parseCertTable,
  parseReport,
  serializeCertTable,
  serializeReport,
  type SnpProduct,
  type TcbVersion,
} from './format.js';
import { evidenceFromJson, evidenceToJson } from './evidence.js';
import { loadReport } from './input.js';

interface IndexTcb { fmc?: number; bl: number; tee: number; snp: number; ucode: number; raw: string }
const index = readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json');
const positives = index.vectors.filter((v) => !v.negative);
const productOf = (v: any): SnpProduct => String(v.product).toLowerCase() as SnpProduct;

function tcbMatches(t: TcbVersion, want: IndexTcb, name: string): void {
  assert.equal(`0x${t.raw.toString(16)}`, want.raw, `${name} raw`);
  assert.deepEqual([t.fmc ?? undefined, t.bootloader, t.tee, t.snp, t.microcode], [want.fmc, want.bl, want.tee, want.snp, want.ucode], name);
}

for (const v of positives) {
  test(`parses every field of ${v.id} as the index records it and serializes it back byte-exact`, () => {
    const bytes = new Uint8Array(readVector('snp', v.report));
    const r = parseReport(bytes, { product: productOf(v) });
    const f = v.fields;
    assert.equal(r.version, f.version);
    assert.equal(r.guestSvn, f.guest_svn);
    assert.equal(`0x${r.policy.toString(16)}`, f.policy);
    assert.equal(toHex(r.familyId), f.family_id);
    assert.equal(toHex(r.imageId), f.image_id);
    assert.equal(r.vmpl, f.vmpl);
    assert.equal(r.signatureAlgo, f.sig_algo);
    assert.equal(`0x${r.platformInfo.toString(16)}`, f.platform_info);
    const ki = decodeKeyInfo(r.keyInfo);
    assert.deepEqual([Number(ki.authorKeyEn), Number(ki.maskChipKey), ki.signingKeyCode], [f.key_info.author_key_en, f.key_info.mask_chip_key, f.key_info.signing_key]);
    assert.equal(toHex(r.reportData), f.report_data);
    assert.equal(toHex(r.measurement), f.measurement);
    assert.equal(toHex(r.hostData), f.host_data);
    assert.equal(toHex(r.idKeyDigest), f.id_key_digest);
    assert.equal(toHex(r.authorKeyDigest), f.author_key_digest);
    assert.equal(toHex(r.reportId), f.report_id);
    assert.equal(toHex(r.reportIdMa), f.report_id_ma);
    assert.deepEqual(
      r.cpuidFamId === null ? null : [r.cpuidFamId, r.cpuidModId, r.cpuidStep].map((n) => `0x${n!.toString(16)}`),
      f.cpuid_fms,
    );
    tcbMatches(r.currentTcb, f.current_tcb, 'current_tcb');
    tcbMatches(r.reportedTcb, f.reported_tcb, 'reported_tcb');
    tcbMatches(r.committedTcb, f.committed_tcb, 'committed_tcb');
    tcbMatches(r.launchTcb, f.launch_tcb, 'launch_tcb');
    assert.equal(toHex(r.chipId), f.chip_id);
    assert.equal(formatVersion(r.current), f.current_version);
    assert.equal(formatVersion(r.committed), f.committed_version);
    if (f.launch_mit_vector) assert.equal(`0x${r.launchMitVector!.toString(16)}`, f.launch_mit_vector);
    if (f.current_mit_vector) assert.equal(`0x${r.currentMitVector!.toString(16)}`, f.current_mit_vector);
    assert.equal(r.tcbLayout === 'turin', f.tcb_layout.startsWith('turin'));
    assert.deepEqual(serializeReport(r), bytes);
  });
}

test('a version-2 Turin-shaped report without a configured product gets the Turin layout from CHIP_ID', () => {
  const v = positives.find((x) => x.id === 'anolis-turin-v5');
  const bytes = new Uint8Array(readVector('snp', v.report));
  const v2 = new Uint8Array(bytes);
  v2[0] = 2;
  v2.fill(0, 0x188, 0x18b);
  v2.fill(0, 0x1f8, 0x208);
  assert.equal(parseReport(v2).tcbLayout, 'turin');
  assert.equal(parseReport(v2, { product: 'milan' }).tcbLayout, 'legacy');
});

test('decodes guest policy, platform info and key info bits', () => {
  const p = decodePolicy(0xb0000n); // gsg-milan-v2: SMT, reserved bit 17, DEBUG
  assert.deepEqual([p.smt, p.reservedOne, p.debug, p.migrateMa, p.abiMajor, p.abiMinor], [true, true, true, false, 0, 0]);
  const q = decodePolicy(0x3001fn);
  assert.deepEqual([q.smt, q.debug, q.abiMinor], [true, false, 31]);
  const pi = decodePlatformInfo(0x65n);
  assert.deepEqual([pi.smtEnabled, pi.tsmeEnabled, pi.eccEnabled, pi.aliasCheckComplete, pi.reserved], [true, false, true, true, 0x40n]);
  assert.equal(decodeKeyInfo(1 << 2).signingKey, 'vlek');
  assert.equal(decodeKeyInfo(7 << 2).signingKey, 'none');
  assert.equal(decodeKeyInfo(3 << 2).signingKey, 'reserved');
});

test('rejects wrong sizes, unsupported versions and non-zero reserved bytes with CocoErrors', () => {
  const good = new Uint8Array(readVector('snp', 'reports', 'gsg-milan-v2.report.bin'));
  const expectCode = (b: Uint8Array, code: string): void => {
    assert.throws(() => parseReport(b), (e: unknown) => e instanceof CocoError && e.code === code);
  };
  expectCode(good.subarray(0, REPORT_SIZE - 1), 'SNP_REPORT_SIZE');
  for (const version of [0, 1, 6]) {
    const b = new Uint8Array(good);
    b[0] = version;
    expectCode(b, 'SNP_REPORT_VERSION');
  }
  for (const off of [0x4c, 0x188, 0x18b, 0x1eb, 0x1ef, 0x1f8, 0x208, 0x29f, 0x330, 0x49f]) {
    const b = new Uint8Array(good);
    b[off] = 1;
    expectCode(b, 'SNP_REPORT_RESERVED');
  }
});

test('the CoCo JSON evidence rebuilds the exact report bytes and converts back to the same JSON', () => {
  const json = readVectorJson('snp', 'reports', 'coco-e2e-genoa-v3.evidence.json');
  const ev = evidenceFromJson(json);
  assert.deepEqual(serializeReport(ev.report), new Uint8Array(readVector('snp', 'reports', 'coco-e2e-genoa-v3.report.bin')));
  assert.equal(ev.certChain?.length, 1);
  assert.equal(ev.certChain?.[0].type, 'VCEK');
  assert.deepEqual(ev.certChain?.[0].data, new Uint8Array(readVector('snp', 'reports', 'coco-e2e-genoa-v3.vcek.der')));
  assert.deepEqual(evidenceToJson(ev.report, ev.certChain), json);
  // Trustee's copy of the same evidence is byte-identical to the one under snp/.
  assert.deepEqual(readVectorJson('trustee', 'snp', 'evidence-e2e.json'), json);
});

test('every raw vector survives raw → JSON → raw, Turin v5 included', () => {
  for (const v of positives) {
    const bytes = new Uint8Array(readVector('snp', v.report));
    const r = parseReport(bytes, { product: productOf(v) });
    const back = evidenceFromJson(JSON.parse(JSON.stringify(evidenceToJson(r))));
    assert.deepEqual(serializeReport(back.report), bytes, v.id);
  }
});

test('the certificate table round-trips and names AMD GUIDs', () => {
  const vcek = new Uint8Array(readVector('snp', 'reports', 'gsg-milan-v2.vcek.der'));
  const entries = [
    { type: 'VCEK' as const, data: vcek },
    { type: 'ASK' as const, data: new Uint8Array([1, 2, 3]) },
    { type: { OTHER: '11111111-2222-3333-4444-555555555555' }, data: new Uint8Array(0) },
  ];
  const table = serializeCertTable(entries);
  assert.equal(toHex(table.subarray(0, 16)), '63da758de6644564adc5f4b93be8accd');
  assert.deepEqual(parseCertTable(table), entries);
  assert.throws(() => parseCertTable(table.subarray(0, 30)), CocoError);
  const broken = new Uint8Array(table);
  new DataView(broken.buffer).setUint32(20, 1 << 30, true);
  assert.throws(() => parseCertTable(broken), CocoError);
});

test('loadReport accepts raw, hex, JSON and Azure HCL forms', () => {
  const raw = new Uint8Array(readVector('snp', 'reports', 'azure-milan-v2.report.bin'));
  assert.equal(loadReport(raw).form, 'raw');
  assert.deepEqual(loadReport(new Uint8Array(Buffer.from(toHex(raw) + '\n'))).raw, raw);
  const hcl = loadReport(new Uint8Array(readVector('snp', 'reports', 'azure-milan-v2.hcl-report.bin')));
  assert.equal(hcl.form, 'hcl');
  assert.deepEqual(hcl.raw, raw);
  assert.equal(loadReport(new Uint8Array(readVector('snp', 'reports', 'coco-e2e-genoa-v3.evidence.json'))).form, 'json');
  assert.throws(() => loadReport(new Uint8Array([1, 2, 3])), (e: unknown) => e instanceof CocoError && e.code === 'SNP_REPORT_FORM');
});

test('fuzz: random and mutated report bytes give a report or a CocoError, and accepted bytes round-trip', () => {
  const seed = new Uint8Array(readVector('snp', 'reports', 'anolis-turin-v5.report.bin'));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 1300 }),
        fc.array(fc.tuple(fc.nat(REPORT_SIZE - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }).map((muts) => {
          const b = new Uint8Array(seed);
          for (const [i, v] of muts) b[i] = v;
          return b;
        }),
      ),
      (bytes) => {
        try {
          const r = parseReport(bytes);
          assert.deepEqual(serializeReport(r), bytes);
        } catch (e) {
          if (!(e instanceof CocoError)) throw e;
        }
        try {
          loadReport(bytes);
        } catch (e) {
          if (!(e instanceof CocoError)) throw e;
        }
      },
    ),
    { numRuns: 400 },
  );
});

test('a byte of the JSON evidence is an integer 0..255 and nothing else', () => {
  const json = readVectorJson('snp', 'reports', 'coco-e2e-genoa-v3.evidence.json');
  const der = new Uint8Array(readVector('snp', 'reports', 'coco-e2e-genoa-v3.vcek.der'));
  const withByte = (b: unknown): unknown => {
    const ev = structuredClone(json);
    ev.attestation_report.measurement[5] = b;
    ev.cert_chain[0].data[7] = b;
    return ev;
  };
  for (const [b, byte] of [[0, 0], [255, 255], [-0, 0]]) {
    const ev = evidenceFromJson(withByte(b));
    assert.equal(ev.report.measurement[5], byte);
    assert.equal(ev.certChain![0].data[7], byte);
    assert.deepEqual(ev.certChain![0].data.subarray(8), der.subarray(8));
  }
  for (const b of [256, -1, 1.5, 255.5, NaN, Infinity, -Infinity, 2 ** 32 + 1, '1', true, false, null, undefined, 1n, {}, [1], { valueOf: () => 1 }]) {
    assert.throws(
      () => evidenceFromJson(withByte(b)),
      (e: unknown) => e instanceof CocoError && e.code === 'SNP_EVIDENCE' && e.message.includes('attestation_report.measurement[5] must be a byte'),
      String(b),
    );
    const ev = structuredClone(json);
    ev.cert_chain[0].data[7] = b;
    assert.throws(() => evidenceFromJson(ev), (e: unknown) => e instanceof CocoError && e.message.includes('cert_chain[0].data[7] must be a byte'), String(b));
  }
});

test('fuzz: mangled JSON evidence gives evidence or a CocoError, never another exception', () => {
  const json = readVectorJson('snp', 'reports', 'coco-e2e-genoa-v3.evidence.json');
  const keys = Object.keys(json.attestation_report);
  const junk = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.array(fc.integer({ min: -2, max: 300 }), { maxLength: 80 }), fc.object());
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...keys, 'cert_chain', 'signature.r', 'reported_tcb.fmc'), junk), { minLength: 1, maxLength: 4 }), (muts) => {
      const ev = structuredClone(json);
      for (const [k, v] of muts) {
        if (k === 'cert_chain') ev.cert_chain = v;
        else if (k.includes('.')) {
          const [a, b] = k.split('.');
          const parent = ev.attestation_report[a];
          if (parent && typeof parent === 'object') parent[b] = v;
        } else ev.attestation_report[k] = v;
      }
      try {
        evidenceFromJson(ev);
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
      }
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(fc.anything(), (v) => {
      try {
        evidenceFromJson(v);
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
      }
    }),
    { numRuns: 300 },
  );
});
