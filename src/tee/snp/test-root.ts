/**
 * A generated SEV-SNP root of trust for tests: an ARK and ASK (RSASSA-PSS SHA-384 like AMD's, smaller keys
 * for speed), VCEKs for synthetic chips (EC P-384 with the AMD TCB/hwID extensions of snp.md §2.2) and
 * reports signed with them. It lets the whole KBS flow run with SNP evidence without hardware.
 *
 * It is never a default: a verifier trusts it only when `testRoot.roots` is passed explicitly
 * (`createSnpVerifier({ roots })`). Its certificates say `O=cocokit TEST root (not AMD)`.
 */
import { constants, createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bitString, explicit, extension, ia5String, integer, name, nullValue, oid, seq, time, boolean } from '../../formats/x509-build.js';
import { CocoError } from '../../errors.js';
import { encodeTcb, kdsProductName, layoutOf, serializeReport, type SnpProduct, type SnpReport, type TcbVersion, SIGNED_LENGTH, REPORT_SIZE, parseReport } from './format.js';
import type { RootSet } from './certs.js';
import { AMD_OID, certRole, loadCertificate, productFromIssuer, vekExtensions } from './certs.js';
import { generateEcKeyPair } from '../../formats/jwk.js';
import { safeKeyPair } from '../../formats/keygen.js';

const SHA384 = '2.16.840.1.101.3.4.2.2';
/** RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48, trailer 1 — the AlgorithmIdentifier AMD's certificates carry. */
export const RSA_PSS_SHA384 = seq(
  oid('1.2.840.113549.1.1.10'),
  seq(
    explicit(0, seq(oid(SHA384), nullValue())),
    explicit(1, seq(oid('1.2.840.113549.1.1.8'), seq(oid(SHA384), nullValue()))),
    explicit(2, integer(48)),
    explicit(3, integer(1)),
  ),
);

const amdName = (cn: string): Uint8Array =>
  name([
    ['2.5.4.11', 'Engineering'],
    ['2.5.4.6', 'US'],
    ['2.5.4.7', 'Santa Clara'],
    ['2.5.4.8', 'CA'],
    ['2.5.4.10', 'cocokit TEST root (not AMD)'],
    ['2.5.4.3', cn],
  ]);

interface CertSpec {
  serial: bigint;
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  extensions: Uint8Array[];
  signer: KeyObject;
}

function pssSign(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha384', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }));
}

function buildCert(s: CertSpec): X509Certificate {
  const spki = new Uint8Array(s.publicKey.export({ type: 'spki', format: 'der' }));
  const tbs = seq(
    explicit(0, integer(2)),
    integer(s.serial),
    RSA_PSS_SHA384,
    s.issuer,
    seq(time(s.notBefore), time(s.notAfter)),
    s.subject,
    spki,
    ...(s.extensions.length ? [explicit(3, seq(...s.extensions))] : []),
  );
  return new X509Certificate(Buffer.from(seq(tbs, RSA_PSS_SHA384, bitString(pssSign(s.signer, tbs)))));
}

const caExtensions = (pathLen: boolean): Uint8Array[] => [
  extension('2.5.29.19', true, seq(boolean(true), ...(pathLen ? [integer(0)] : []))),
  // keyUsage keyCertSign | cRLSign: BIT STRING with 1 unused bit, 0b0000011x
  extension('2.5.29.15', true, new Uint8Array([0x03, 0x02, 0x01, 0x06])),
];

export interface TestChip {
  product: SnpProduct;
  chipId: Uint8Array;
  tcb: Omit<TcbVersion, 'raw'>;
  vcek: X509Certificate;
  /** The VCEK private key (P-384). */
  key: KeyObject;
}

export interface ReportFields extends Partial<Omit<SnpReport, 'reportedTcb' | 'currentTcb' | 'committedTcb' | 'launchTcb' | 'tcbLayout'>> {
  reportData?: Uint8Array;
}

export interface TestRoot {
  product: SnpProduct;
  /** Pass to `createSnpVerifier({ roots })` / `verifyReport({ roots })`; labelled `TEST` in checks. */
  roots: RootSet;
  ark: X509Certificate;
  ask: X509Certificate;
  arkKey: KeyObject;
  askKey: KeyObject;
  /** A VCEK for a synthetic chip at a TCB (random chip id unless given). */
  createChip(opts?: { chipId?: Uint8Array; tcb?: Partial<Omit<TcbVersion, 'raw'>>; notBefore?: Date; notAfter?: Date }): TestChip;
  /** A signed report from `chip` (raw 1184 bytes), VMPL 0 and a production policy unless overridden. */
  signReport(chip: TestChip, fields?: ReportFields): Uint8Array;
  /** An X.509 CRL signed by the ARK listing `revokedSerials`. */
  issueCrl(revokedSerials: bigint[], thisUpdate: Date, nextUpdate: Date): Uint8Array;
}

const CPUID: Record<SnpProduct, [number, number, number]> = { milan: [0x19, 0x01, 0x01], genoa: [0x19, 0x11, 0x01], turin: [0x1a, 0x02, 0x01] };

export interface TestRootOptions {
  product?: SnpProduct;
  /** RSA modulus for ARK/ASK: AMD uses 4096; 2048 keeps tests fast. */
  rsaBits?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/** Generates a fresh test hierarchy for one product. */
export function createTestRoot(opts: TestRootOptions = {}): TestRoot {
  const product = opts.product ?? 'milan';
  const P = kdsProductName(product);
  const notBefore = opts.notBefore ?? new Date('2020-01-01T00:00:00Z');
  const notAfter = opts.notAfter ?? new Date('2045-01-01T00:00:00Z');
  const rsa = (): { publicKey: KeyObject; privateKey: KeyObject } => safeKeyPair('rsa', { modulusLength: opts.rsaBits ?? 2048 });
  const arkPair = rsa();
  const askPair = rsa();
  const arkName = amdName(`ARK-${P}`);
  const askName = amdName(`SEV-${P}`);
  const ark = buildCert({ serial: 0x10000n, issuer: arkName, subject: arkName, notBefore, notAfter, publicKey: arkPair.publicKey, extensions: caExtensions(false), signer: arkPair.privateKey });
  const ask = buildCert({ serial: 0x10001n, issuer: arkName, subject: askName, notBefore, notAfter, publicKey: askPair.publicKey, extensions: caExtensions(true), signer: arkPair.privateKey });

  const createChip: TestRoot['createChip'] = (c = {}) => {
    const chipId = c.chipId ?? (product === 'turin' ? new Uint8Array([...randomBytes(8), ...new Uint8Array(56)]) : new Uint8Array(randomBytes(64)));
    const tcb = { fmc: product === 'turin' ? 1 : null, bootloader: 3, tee: 0, snp: 8, microcode: 115, ...c.tcb };
    if (product !== 'turin') tcb.fmc = null;
    const pair = generateEcKeyPair('P-384');
    const amd = (suffix: string, value: Uint8Array): Uint8Array => extension(`${AMD_OID}.${suffix}`, false, value);
    const hwId = product === 'turin' ? chipId.subarray(0, 8) : chipId;
    const exts = [
      amd('1', integer(product === 'turin' ? 1 : 0)),
      amd('2', ia5String(product === 'milan' ? 'Milan-B0' : P)),
      amd('3.1', integer(tcb.bootloader)),
      amd('3.2', integer(tcb.tee)),
      ...(product === 'turin' ? [] : [amd('3.4', integer(0)), amd('3.5', integer(0)), amd('3.6', integer(0)), amd('3.7', integer(0))]),
      amd('3.3', integer(tcb.snp)),
      amd('3.8', integer(tcb.microcode)),
      ...(product === 'turin' ? [amd('3.9', integer(tcb.fmc ?? 0))] : []),
      amd('4', hwId), // raw bytes, no OCTET STRING tag, as KDS issues it (snp.md §2.2)
    ];
    const vcek = buildCert({
      serial: 0n,
      issuer: askName,
      subject: amdName('SEV-VCEK'),
      notBefore: c.notBefore ?? notBefore,
      notAfter: c.notAfter ?? new Date((c.notBefore ?? notBefore).getTime() + 7 * 365.25 * 86_400_000),
      publicKey: pair.publicKey,
      extensions: exts,
      signer: askPair.privateKey,
    });
    return { product, chipId, tcb, vcek, key: pair.privateKey };
  };

  const signReport: TestRoot['signReport'] = signTestReport;

  const issueCrl: TestRoot['issueCrl'] = (revoked, thisUpdate, nextUpdate) => {
    const entries = revoked.map((s) => seq(integer(s), time(thisUpdate)));
    const tbs = seq(integer(1), RSA_PSS_SHA384, arkName, time(thisUpdate), time(nextUpdate), ...(entries.length ? [seq(...entries)] : []));
    return seq(tbs, RSA_PSS_SHA384, bitString(pssSign(arkPair.privateKey, tbs)));
  };

  const roots = Object.assign({ [product]: { ark, ask, asvk: null } }, { label: 'TEST' }) as RootSet;
  return { product, roots, ark, ask, arkKey: arkPair.privateKey, askKey: askPair.privateKey, createChip, signReport, issueCrl };
}

/** A signed report from `chip` (raw 1184 bytes), VMPL 0 and a production policy unless overridden. */
export function signTestReport(chip: TestChip, f: ReportFields = {}): Uint8Array {
  const layout = layoutOf(chip.product);
  const raw = encodeTcb(chip.tcb, layout);
  const tcb: TcbVersion = { ...chip.tcb, raw };
  const version = f.version ?? (chip.product === 'turin' ? 5 : 3);
  const [fam, mod, step] = CPUID[chip.product];
  const report: SnpReport = {
    version,
    guestSvn: 0,
    policy: 0x30000n,
    familyId: new Uint8Array(16),
    imageId: new Uint8Array(16),
    vmpl: 0,
    signatureAlgo: 1,
    platformInfo: 0x25n,
    keyInfo: 0,
    reportData: new Uint8Array(64),
    measurement: new Uint8Array(48),
    hostData: new Uint8Array(32),
    idKeyDigest: new Uint8Array(48),
    authorKeyDigest: new Uint8Array(48),
    reportId: new Uint8Array(randomBytes(32)),
    reportIdMa: new Uint8Array(32).fill(0xff),
    cpuidFamId: version >= 3 ? fam : null,
    cpuidModId: version >= 3 ? mod : null,
    cpuidStep: version >= 3 ? step : null,
    chipId: chip.chipId,
    current: { major: 1, minor: 55, build: 40 },
    committed: { major: 1, minor: 55, build: 40 },
    launchMitVector: version >= 5 ? 0n : null,
    currentMitVector: version >= 5 ? 0n : null,
    ...f,
    currentTcb: tcb,
    reportedTcb: tcb,
    committedTcb: tcb,
    launchTcb: tcb,
    signatureR: new Uint8Array(72),
    signatureS: new Uint8Array(72),
    tcbLayout: layout,
  };
  if (report.reportData.length !== 64) throw new CocoError('SNP_TEST_ROOT', 'reportData must be 64 bytes', { kind: 'usage' });
  const bytes = serializeReport(report);
  // ECDSA P-384 over [0, 0x2A0), r and s written little-endian into 72-byte fields (snp.md §1.6).
  const sig = sign('sha384', bytes.subarray(0, SIGNED_LENGTH), { key: chip.key, dsaEncoding: 'ieee-p1363' });
  bytes.set(new Uint8Array(sig.subarray(0, 48)).reverse(), 0x2a0);
  bytes.set(new Uint8Array(sig.subarray(48, 96)).reverse(), 0x2e8);
  if (bytes.length !== REPORT_SIZE) throw new CocoError('SNP_TEST_ROOT', 'internal: bad report size', { kind: 'internal' });
  parseReport(bytes); // what we sign must be what verifiers parse
  return bytes;
}

/** Files `writeTestRoot` puts in a directory (and `cocokit snp test-root --out DIR` writes). */
export const TEST_ROOT_FILES = {
  /** ARK + ASK PEM: what `trusted_roots` / `snp verify --roots` take. */
  roots: 'roots.pem',
  /** The synthetic chip's VCEK (PEM). */
  vcek: 'vcek.pem',
  /** The VCEK's P-384 private key (PKCS#8 PEM): what signs synthetic reports. */
  vcekKey: 'vcek-key.pem',
} as const;

const pemOf = (c: X509Certificate): string => c.toString().trim() + '\n';

/** Writes the root bundle and one chip's VCEK and key into `dir` (private key mode 0600); returns the paths. */
export function writeTestRoot(dir: string, root: TestRoot, chip: TestChip): { roots: string; vcek: string; vcekKey: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { roots: join(dir, TEST_ROOT_FILES.roots), vcek: join(dir, TEST_ROOT_FILES.vcek), vcekKey: join(dir, TEST_ROOT_FILES.vcekKey) };
  writeFileSync(paths.roots, pemOf(root.ark) + pemOf(root.ask));
  writeFileSync(paths.vcek, pemOf(chip.vcek));
  // The mode option applies to a new file only: narrow an existing one before the key goes in.
  if (existsSync(paths.vcekKey)) chmodSync(paths.vcekKey, 0o600);
  writeFileSync(paths.vcekKey, chip.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return paths;
}

/**
 * The chip of a `writeTestRoot` directory: product from the VCEK's issuer, chip id and TCB from its AMD
 * extensions (the chip id is what the VCEK binds, zero-extended to 64 bytes on Turin), key from the PEM.
 */
export function loadTestChip(dir: string): TestChip {
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (e) {
      throw new CocoError('SNP_TEST_ROOT', `cannot read ${join(dir, name)}: ${(e as Error).message} (make it with: cocokit snp test-root --out ${dir})`, { kind: 'usage', cause: e });
    }
  };
  const vcek = loadCertificate(new Uint8Array(read(TEST_ROOT_FILES.vcek)), join(dir, TEST_ROOT_FILES.vcek));
  const product = productFromIssuer(vcek);
  const ext = vekExtensions(new Uint8Array(vcek.raw));
  if (certRole(vcek)?.role !== 'vcek' || !product || !ext.hwId || ext.bootloader === null || ext.tee === null || ext.snp === null || ext.microcode === null) {
    throw new CocoError('SNP_TEST_ROOT', `${join(dir, TEST_ROOT_FILES.vcek)} is not a VCEK with the AMD product, chip id and TCB extensions`, { kind: 'input' });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(read(TEST_ROOT_FILES.vcekKey));
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw new CocoError('SNP_TEST_ROOT', `${join(dir, TEST_ROOT_FILES.vcekKey)} is not a private key: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new CocoError('SNP_TEST_ROOT', `${join(dir, TEST_ROOT_FILES.vcekKey)} is not a P-384 key`, { kind: 'input' });
  }
  const chipId = new Uint8Array(64);
  chipId.set(ext.hwId);
  const tcb = { fmc: product === 'turin' ? (ext.fmc ?? 0) : null, bootloader: ext.bootloader, tee: ext.tee, snp: ext.snp, microcode: ext.microcode };
  return { product, chipId, tcb, vcek, key };
}
