/**
 * A generated DCAP root of trust for tests and labs without TDX hardware: a root CA, a PCK Platform CA, a
 * PCK leaf carrying the SGX extension (specs/tdx-initdata.md §1.5), a TCB Signing certificate, signed
 * collateral (TCB Info v3, TD QE Identity v2, both CRLs) and quotes signed through the whole chain (QE
 * report by the PCK key, quote by an attestation key bound in the QE report data, §1.4).
 *
 * It is never a default: a verifier trusts it only when its root is passed explicitly
 * (`verifyQuote({ root })`, KBS `tdx_verifier.trusted_root`). Its certificates say `cocokit TEST`.
 */
import { X509Certificate, createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { concatBytes, toHex } from '../../formats/bytes.js';
import { derChildren, readDer } from '../../formats/x509.js';
import { bitString, boolean, der, explicit, extension, integer, name, octetString, oid, seq, time } from '../../formats/x509-build.js';
import { collateralFromPcs, type TdxCollateral } from './collateral.js';
import { BODY_SIZE, INTEL_QE_VENDOR_ID, TEE_TYPE_TDX, parseQuote, serializeQeReport, serializeQuote, signedLength, type QeReport, type TdReportBody, type TdxQuote } from './format.js';
import { SGX_EXTENSION_OID, pckExtensions } from './pck.js';
import type { TdxRoot } from './verify.js';
import { generateEcKeyPair } from '../../formats/jwk.js';

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const O = SGX_EXTENSION_OID;

const testName = (cn: string): Uint8Array =>
  name([
    ['2.5.4.3', cn],
    ['2.5.4.10', 'cocokit TEST root (not Intel)'],
    ['2.5.4.6', 'US'],
  ]);

interface CertSpec {
  serial: bigint;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  ca: boolean;
  extensions?: Uint8Array[];
  signer: KeyObject;
}

function buildCert(s: CertSpec): X509Certificate {
  const spki = new Uint8Array(s.publicKey.export({ type: 'spki', format: 'der' }));
  const exts = [
    ...(s.ca ? [extension('2.5.29.19', true, seq(boolean(true))), extension('2.5.29.15', true, new Uint8Array([0x03, 0x02, 0x01, 0x06]))] : []),
    ...(s.extensions ?? []),
  ];
  const tbs = seq(explicit(0, integer(2)), integer(s.serial), ECDSA_SHA256, s.issuer, seq(time(s.notBefore), time(s.notAfter)), s.subject, spki, explicit(3, seq(...exts)));
  return new X509Certificate(Buffer.from(seq(tbs, ECDSA_SHA256, bitString(new Uint8Array(sign('sha256', tbs, s.signer))))));
}

function crl(issuer: Uint8Array, key: KeyObject, revoked: readonly bigint[], thisUpdate: Date, nextUpdate: Date): Uint8Array {
  const entries = revoked.map((s) => seq(integer(s), time(thisUpdate)));
  const crlNumber = explicit(0, seq(seq(oid('2.5.29.20'), octetString(integer(1)))));
  const tbs = seq(integer(1), ECDSA_SHA256, issuer, time(thisUpdate), time(nextUpdate), ...(entries.length ? [seq(...entries)] : []), crlNumber);
  return seq(tbs, ECDSA_SHA256, bitString(new Uint8Array(sign('sha256', tbs, key))));
}

/** The platform a PCK certificate describes (§1.5). */
export interface TestPlatform {
  fmspc: Uint8Array;
  pceId: Uint8Array;
  sgxComponents: number[];
  pceSvn: number;
  /** TEE_TCB_SVN of quotes from this platform. */
  teeTcbSvn: Uint8Array;
}

export const DEFAULT_TEST_PLATFORM: TestPlatform = {
  fmspc: new Uint8Array([0x90, 0xc0, 0x6f, 0, 0, 0]),
  pceId: new Uint8Array(2),
  sgxComponents: [4, 4, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
  pceSvn: 13,
  teeTcbSvn: new Uint8Array([5, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
};

/** The QE every test quote names; the TD QE identity of the test collateral matches it. */
const QE = { mrSigner: createHash('sha256').update('cocokit TEST TD QE').digest(), isvProdId: 2, isvSvn: 4, attributes: new Uint8Array([0x11, ...new Array<number>(15).fill(0)]) };

export interface TestQuoteFields extends Partial<TdReportBody> {
  /** 4 (body type 2) or 5 (body type 3); 4 by default. */
  version?: 4 | 5;
}

export interface TdxTestRoot {
  /** Pass to `verifyQuote({ root })`; labelled `TEST` in checks. */
  root: TdxRoot;
  rootKey: KeyObject;
  pckCa: X509Certificate;
  pckCaKey: KeyObject;
  pck: X509Certificate;
  pckKey: KeyObject;
  tcbSigning: X509Certificate;
  tcbSigningKey: KeyObject;
  platform: TestPlatform;
  /** A v4 (or v5 type 3) quote signed through the chain; body fields default to zero except TEE_TCB_SVN. */
  signQuote(fields?: TestQuoteFields): Uint8Array;
  /**
   * Collateral for the platform, valid [issued, issued + 30 days], one UpToDate TCB level at the platform's
   * TCB, signed by the TCB Signing key; `revokedPck` lists PCK serials in the PCK CRL.
   */
  collateral(opts?: { issued?: Date; revokedPck?: bigint[]; tcbStatus?: string }): TdxCollateral;
}

/** Uncompressed P-256 point X‖Y of a public key, read from its SPKI (the last 64 bytes after 0x04). */
function rawP256(pub: KeyObject): Uint8Array {
  const spki = new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
  return spki.subarray(spki.length - 64);
}

function sgxExtension(p: TestPlatform): Uint8Array {
  const pair = (sub: string, value: Uint8Array): Uint8Array => seq(oid(`${O}.${sub}`), value);
  const tcb = seq(
    ...p.sgxComponents.map((svn, i) => pair(`2.${i + 1}`, integer(svn))),
    pair('2.17', integer(p.pceSvn)),
    pair('2.18', octetString(new Uint8Array(p.sgxComponents))),
  );
  return seq(
    pair('1', octetString(new Uint8Array(16))),
    pair('2', tcb),
    pair('3', octetString(p.pceId)),
    pair('4', octetString(p.fmspc)),
    pair('5', der(0x0a, new Uint8Array([1]))),
    pair('6', octetString(new Uint8Array(16).fill(0x5a))),
    pair('7', seq(pair('7.1', boolean(false)), pair('7.2', boolean(true)), pair('7.3', boolean(true)))),
  );
}

function pem(...certs: X509Certificate[]): string {
  return certs.map((c) => `${c.toString().trim()}\n`).join('');
}

function keysOf(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateEcKeyPair('P-256');
}

export interface TdxTestRootOptions {
  platform?: Partial<TestPlatform>;
  notBefore?: Date;
  notAfter?: Date;
  /** Reuse keys and certificates (as `loadTdxTestRoot` does); generated when absent. */
  material?: TestRootMaterial;
}

/** What a test root is made of; `writeTdxTestRoot` stores it, `loadTdxTestRoot` reads it back. */
export interface TestRootMaterial {
  root: X509Certificate;
  rootKey: KeyObject;
  pckCa: X509Certificate;
  pckCaKey: KeyObject;
  pck: X509Certificate;
  pckKey: KeyObject;
  tcbSigning: X509Certificate;
  tcbSigningKey: KeyObject;
  platform: TestPlatform;
}

function generate(opts: TdxTestRootOptions): TestRootMaterial {
  const platform = { ...DEFAULT_TEST_PLATFORM, ...opts.platform };
  const notBefore = opts.notBefore ?? new Date('2020-01-01T00:00:00Z');
  const notAfter = opts.notAfter ?? new Date('2045-01-01T00:00:00Z');
  const [r, ca, leaf, tcb] = [keysOf(), keysOf(), keysOf(), keysOf()];
  const rootName = testName('cocokit TEST SGX Root CA');
  const caName = testName('cocokit TEST SGX PCK Platform CA');
  const root = buildCert({ serial: 0x7e01n, issuer: rootName, subject: rootName, notBefore, notAfter, publicKey: r.publicKey, ca: true, signer: r.privateKey });
  const pckCa = buildCert({ serial: 0x7e02n, issuer: rootName, subject: caName, notBefore, notAfter, publicKey: ca.publicKey, ca: true, signer: r.privateKey });
  const tcbSigning = buildCert({ serial: 0x7e03n, issuer: rootName, subject: testName('cocokit TEST SGX TCB Signing'), notBefore, notAfter, publicKey: tcb.publicKey, ca: false, signer: r.privateKey });
  const pck = buildCert({
    serial: BigInt(`0x${toHex(randomBytes(8))}`) | 1n,
    issuer: caName,
    subject: testName('cocokit TEST SGX PCK Certificate'),
    notBefore,
    notAfter,
    publicKey: leaf.publicKey,
    ca: false,
    extensions: [extension(O, false, sgxExtension(platform))],
    signer: ca.privateKey,
  });
  return { root, rootKey: r.privateKey, pckCa, pckCaKey: ca.privateKey, pck, pckKey: leaf.privateKey, tcbSigning, tcbSigningKey: tcb.privateKey, platform };
}

/** Generates a fresh test hierarchy (or wraps stored material). */
export function createTdxTestRoot(opts: TdxTestRootOptions = {}): TdxTestRoot {
  const m = opts.material ?? generate(opts);
  const { platform } = m;
  const attKey = keysOf();
  const attRaw = rawP256(attKey.publicKey);
  const chainPem = new TextEncoder().encode(pem(m.pck, m.pckCa, m.root));

  const signQuote: TdxTestRoot['signQuote'] = (f = {}) => {
    const version = f.version ?? 4;
    const bodyType: 2 | 3 = version === 5 ? 3 : 2;
    const z = (n: number): Uint8Array => new Uint8Array(n);
    const body: TdReportBody = {
      teeTcbSvn: platform.teeTcbSvn,
      mrSeam: z(48),
      mrSignerSeam: z(48),
      seamAttributes: z(8),
      tdAttributes: new Uint8Array([0, 0, 0, 0x10, 0, 0, 0, 0]), // SEPT_VE_DISABLE, as production TDs run
      xfam: new Uint8Array([0xe7, 0x02, 0x06, 0, 0, 0, 0, 0]),
      mrTd: z(48),
      mrConfigId: z(48),
      mrOwner: z(48),
      mrOwnerConfig: z(48),
      rtmr0: z(48),
      rtmr1: z(48),
      rtmr2: z(48),
      rtmr3: z(48),
      reportData: z(64),
      teeTcbSvn2: bodyType === 3 ? platform.teeTcbSvn : null,
      mrServiceTd: bodyType === 3 ? z(48) : null,
      ...Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'version')),
    };
    if (bodyType === 2) {
      body.teeTcbSvn2 = null;
      body.mrServiceTd = null;
    }
    const qeAuthData = new Uint8Array(Array.from({ length: 32 }, (_, i) => i));
    const qeReport: QeReport = {
      cpuSvn: new Uint8Array(platform.sgxComponents),
      miscSelect: 0,
      reserved1: z(12),
      isvExtProdId: z(16),
      attributes: QE.attributes,
      mrEnclave: new Uint8Array(createHash('sha256').update('cocokit TEST TD QE enclave').digest()),
      reserved2: z(32),
      mrSigner: new Uint8Array(QE.mrSigner),
      reserved3: z(32),
      configId: z(64),
      isvProdId: QE.isvProdId,
      isvSvn: QE.isvSvn,
      configSvn: 0,
      reserved4: z(42),
      isvFamilyId: z(16),
      reportData: concatBytes(createHash('sha256').update(attRaw).update(qeAuthData).digest(), z(32)),
    };
    const quote: TdxQuote = {
      header: { version, attKeyType: 2, teeType: TEE_TYPE_TDX, reserved: z(4), qeVendorId: Buffer.from(INTEL_QE_VENDOR_ID, 'hex'), userData: z(20) },
      bodyType,
      body,
      signatureData: {
        signature: z(64),
        attestationKey: attRaw,
        qeReport,
        qeReportSignature: new Uint8Array(sign('sha256', serializeQeReport(qeReport), { key: m.pckKey, dsaEncoding: 'ieee-p1363' })),
        qeAuthData,
        certification: { type: 5, data: chainPem },
      },
      trailing: z(0),
    };
    const bytes = serializeQuote(quote);
    const n = signedLength(quote);
    if (n !== (version === 4 ? 48 : 54) + BODY_SIZE[bodyType]) throw new CocoError('TDX_TEST_ROOT', 'internal: bad signed length', { kind: 'internal' });
    bytes.set(new Uint8Array(sign('sha256', bytes.subarray(0, n), { key: attKey.privateKey, dsaEncoding: 'ieee-p1363' })), n + 4);
    parseQuote(bytes); // what we sign must be what verifiers parse
    return bytes;
  };

  const collateral: TdxTestRoot['collateral'] = (o = {}) => {
    const issued = o.issued ?? new Date('2025-01-01T00:00:00Z');
    const next = new Date(issued.getTime() + 30 * 86_400_000);
    const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const comps = (svns: number[] | Uint8Array): Array<{ svn: number }> => Array.from(svns, (svn) => ({ svn }));
    const tcbInfo = JSON.stringify({
      id: 'TDX',
      version: 3,
      issueDate: iso(issued),
      nextUpdate: iso(next),
      fmspc: toHex(platform.fmspc).toUpperCase(),
      pceId: toHex(platform.pceId).toUpperCase(),
      tcbType: 0,
      tcbEvaluationDataNumber: 1,
      tdxModule: { mrsigner: '0'.repeat(96), attributes: '0'.repeat(16), attributesMask: 'F'.repeat(16) },
      tdxModuleIdentities: [
        {
          id: `TDX_${platform.teeTcbSvn[1].toString(16).toUpperCase().padStart(2, '0')}`,
          mrsigner: '0'.repeat(96),
          attributes: '0'.repeat(16),
          attributesMask: 'F'.repeat(16),
          tcbLevels: [{ tcb: { isvsvn: platform.teeTcbSvn[0] }, tcbDate: iso(issued), tcbStatus: 'UpToDate' }],
        },
      ],
      tcbLevels: [
        {
          tcb: { sgxtcbcomponents: comps(platform.sgxComponents), pcesvn: platform.pceSvn, tdxtcbcomponents: comps(platform.teeTcbSvn) },
          tcbDate: iso(issued),
          tcbStatus: o.tcbStatus ?? 'UpToDate',
          ...(o.tcbStatus && o.tcbStatus !== 'UpToDate' ? { advisoryIDs: ['INTEL-SA-TEST'] } : {}),
        },
      ],
    });
    const qeIdentity = JSON.stringify({
      id: 'TD_QE',
      version: 2,
      issueDate: iso(issued),
      nextUpdate: iso(next),
      tcbEvaluationDataNumber: 1,
      miscselect: '00000000',
      miscselectMask: 'FFFFFFFF',
      attributes: toHex(QE.attributes).toUpperCase(),
      attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
      mrsigner: toHex(QE.mrSigner).toUpperCase(),
      isvprodid: QE.isvProdId,
      tcbLevels: [{ tcb: { isvsvn: QE.isvSvn }, tcbDate: iso(issued), tcbStatus: 'UpToDate' }],
    });
    const sig = (text: string): string => toHex(new Uint8Array(sign('sha256', Buffer.from(text), { key: m.tcbSigningKey, dsaEncoding: 'ieee-p1363' })));
    const signerChain = pem(m.tcbSigning, m.root);
    return collateralFromPcs({
      tcbInfoBody: `{"tcbInfo":${tcbInfo},"signature":"${sig(tcbInfo)}"}`,
      tcbInfoIssuerChain: signerChain,
      qeIdentityBody: `{"enclaveIdentity":${qeIdentity},"signature":"${sig(qeIdentity)}"}`,
      qeIdentityIssuerChain: signerChain,
      pckCrl: crl(names(m.pckCa), m.pckCaKey, o.revokedPck ?? [], issued, next),
      pckCrlIssuerChain: pem(m.pckCa, m.root),
      rootCaCrl: crl(names(m.root), m.rootKey, [], issued, next),
    });
  };

  return { ...m, root: { root: m.root, label: 'TEST' }, signQuote, collateral };
}

/** Subject Name DER of a certificate we built (tbsCertificate field 6). */
function names(c: X509Certificate): Uint8Array {
  const raw = new Uint8Array(c.raw);
  const tbs = derChildren(derChildren(readDer(raw))[0]);
  return tbs[5].raw;
}

/** Files `writeTdxTestRoot` puts in a directory (and `cocokit tdx test-root --out DIR` writes). */
export const TDX_TEST_ROOT_FILES = {
  /** The root certificate: what `tdx_verifier.trusted_root` / `tdx verify --root` take. */
  root: 'root.pem',
  /** PCK CA, PCK leaf and TCB Signing certificates. */
  certs: 'certs.pem',
  /** Private keys (PKCS#8 PEM, mode 0600): root, PCK CA, PCK, TCB Signing — what signs quotes and collateral. */
  keys: 'keys.pem',
} as const;

/** Writes a test root's certificates and keys into `dir`; returns the paths. */
export function writeTdxTestRoot(dir: string, t: TdxTestRoot): { root: string; certs: string; keys: string } {
  mkdirSync(dir, { recursive: true });
  const p = { root: join(dir, TDX_TEST_ROOT_FILES.root), certs: join(dir, TDX_TEST_ROOT_FILES.certs), keys: join(dir, TDX_TEST_ROOT_FILES.keys) };
  writeFileSync(p.root, pem(t.root.root));
  writeFileSync(p.certs, pem(t.pckCa, t.pck, t.tcbSigning));
  writeFileSync(p.keys, [t.rootKey, t.pckCaKey, t.pckKey, t.tcbSigningKey].map((k) => k.export({ type: 'pkcs8', format: 'pem' }) as string).join(''), { mode: 0o600 });
  return p;
}

/** Reads a `writeTdxTestRoot` directory back; the platform is read from the PCK certificate. */
export function loadTdxTestRoot(dir: string, platform: Partial<Pick<TestPlatform, 'teeTcbSvn'>> = {}): TdxTestRoot {
  const read = (f: string): string => {
    try {
      return readFileSync(join(dir, f), 'utf8');
    } catch (e) {
      throw new CocoError('TDX_TEST_ROOT', `cannot read ${join(dir, f)}: ${(e as Error).message} (make it with: cocokit tdx test-root --out ${dir})`, { kind: 'usage', cause: e });
    }
  };
  const blocks = (text: string, kind: string): string[] => text.match(new RegExp(`-----BEGIN ${kind}-----[\\s\\S]+?-----END ${kind}-----`, 'g')) ?? [];
  try {
    const [root] = blocks(read(TDX_TEST_ROOT_FILES.root), 'CERTIFICATE').map((b) => new X509Certificate(b));
    const [pckCa, pck, tcbSigning] = blocks(read(TDX_TEST_ROOT_FILES.certs), 'CERTIFICATE').map((b) => new X509Certificate(b));
    const [rootKey, pckCaKey, pckKey, tcbSigningKey] = blocks(read(TDX_TEST_ROOT_FILES.keys), 'PRIVATE KEY').map((b) => createPrivateKey(b));
    if (!root || !pckCa || !pck || !tcbSigning || !rootKey || !pckCaKey || !pckKey || !tcbSigningKey) throw new Error('missing certificates or keys');
    const ext = pckExtensions(new Uint8Array(pck.raw));
    const material: TestRootMaterial = {
      root,
      rootKey,
      pckCa,
      pckCaKey,
      pck,
      pckKey,
      tcbSigning,
      tcbSigningKey,
      platform: { ...DEFAULT_TEST_PLATFORM, fmspc: ext.fmspc, pceId: ext.pceId, sgxComponents: ext.tcb.sgxComponents, pceSvn: ext.tcb.pceSvn, ...platform },
    };
    return createTdxTestRoot({ material });
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw new CocoError('TDX_TEST_ROOT', `${dir} is not a TDX test root: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}
