/**
 * TDX quote verification in Intel QVL's order (specs/tdx-initdata.md §2.1, §2.3): the PCK chain to the pinned
 * Intel SGX Root CA, the QE report signature and report-data binding, the quote signature, then — with
 * collateral — TCB Info and QE Identity authenticity, CRLs, FMSPC/PCE-ID, TDX module identity, QE identity
 * and TCB level selection, converging to one TCB status with advisory IDs. Every step appends a Check;
 * nothing here decides policy (the status is reported, Rego decides what to accept).
 *
 * Reads like the spec: verifyPckChain → verifyQeReport → verifyQuoteSignature → [verifyCollateral →
 * verifyPlatform → verifyTdxModule → qeTcbStatus → tcbLevels → converge].
 */
import { X509Certificate, createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { pemCertificates } from '../../formats/pem.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CocoError } from '../../errors.js';
import { check, type Check } from '../../formats/check.js';
import { bytesEqual, concatBytes, toBase64Url, toHex } from '../../formats/bytes.js';
import { derChildren, parseCrl, readDer, type CertificateList } from '../../formats/x509.js';
import { INTEL_QE_VENDOR_ID, quotePckChain, serializeQeReport, serializeQuote, signedLength, type TdxQuote } from './format.js';
import { pckExtensions, type PckExtensions } from './pck.js';
import type { IsvTcbLevel, Signed, TcbStatus, TdxCollateral, TdxModuleIdentity, TdxTcbLevel } from './collateral.js';

/** SHA-256 of the DER of Intel's SGX Root CA (shared/vectors/tdx/certs/PROVENANCE.md). */
export const INTEL_ROOT_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

/** A trust anchor for DCAP: Intel's, or a test root passed explicitly. */
export interface TdxRoot {
  root: X509Certificate;
  /** `Intel` or e.g. `TEST`; shown in checks. */
  label: string;
}

/** `assets/intel/` — the same relative path from `src/tee/tdx/` and from `dist/tee/tdx/`. */
export const INTEL_ASSETS_DIR = fileURLToPath(new URL('../../../assets/intel/', import.meta.url));

let shipped: TdxRoot | undefined;

/** The Intel SGX Root CA shipped in the package, pinned by SHA-256 of its DER. */
export function intelRoot(): TdxRoot {
  if (shipped) return shipped;
  const root = new X509Certificate(readFileSync(`${INTEL_ASSETS_DIR}intel-sgx-root-ca.pem`));
  if (createHash('sha256').update(root.raw).digest('hex') !== INTEL_ROOT_SHA256) {
    throw new CocoError('TDX_ROOT', 'shipped Intel SGX Root CA does not match its pinned SHA-256', { kind: 'internal' });
  }
  shipped = { root, label: 'Intel' };
  return shipped;
}

/**
 * A root from PEM (e.g. `cocokit tdx test-root`'s root.pem): exactly one self-signed P-256 CA certificate.
 * Used only when a caller passes it explicitly.
 */
export function loadTdxRoot(pem: string, label = 'custom'): TdxRoot {
  const blocks = pemCertificates(pem);
  if (blocks.length !== 1) throw new CocoError('TDX_ROOT', `a TDX root file holds exactly one certificate, found ${blocks.length}`, { kind: 'input' });
  let root: X509Certificate;
  try {
    root = new X509Certificate(blocks[0]);
  } catch (e) {
    throw new CocoError('TDX_ROOT', `not an X.509 certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  if (!root.ca || !isP256(root.publicKey) || !issuedBy(root, root)) throw new CocoError('TDX_ROOT', `${commonName(root.subject)} is not a self-signed P-256 CA`, { kind: 'input' });
  return { root, label };
}

/** Final TCB status (§2.3 C): a TCB Info status, a TD relaunch advice, or `NotSupported` (terminal). */
export type TdxTcbResult = TcbStatus | 'TDRelaunchAdvised' | 'TDRelaunchAdvisedConfigurationNeeded' | 'NotSupported';

export interface TdxTcbEvaluation {
  status: TdxTcbResult;
  advisoryIds: string[];
  /** The matched TDX TCB level's date, null when none matched. */
  tcbDate: string | null;
  qeStatus: TcbStatus | 'NotSupported';
  sgxLevel: TdxTcbLevel | null;
  tdxLevel: TdxTcbLevel | null;
  /** Status of the TDX module identity level (`UpToDate` for a legacy module with TEE_TCB_SVN[1] = 0). */
  moduleStatus: TcbStatus | 'NotSupported';
  tcbEvaluationDataNumber: number;
}

export interface TdxVerifyOptions {
  /** Verification time for certificates, CRLs and collateral (an injected clock). */
  now: Date;
  /** Without collateral only the collateral-free checks of §2.1 run and no TCB status is computed. */
  collateral?: TdxCollateral;
  /** The trust anchor; Intel's shipped root unless a caller passes another explicitly. */
  root?: TdxRoot;
  /** The quote bytes when the caller has them (the signed region is taken from them). */
  raw?: Uint8Array;
  /**
   * Intel QvE reports expired collateral as a non-terminal status (§2.5); go-tdx-guest and dcap-qvl refuse
   * it. Off by default: `collateral-validity` fails. On: it passes and `collateralExpired` says so.
   */
  allowExpiredCollateral?: boolean;
}

export interface TdxVerification {
  checks: Check[];
  quote: TdxQuote;
  pck: { leaf: X509Certificate; intermediate: X509Certificate; extensions: PckExtensions; ca: 'platform' | 'processor' };
  /** Present when collateral was given and could be evaluated. */
  tcb: TdxTcbEvaluation | null;
  collateralExpired: boolean | null;
  /** The intersection of every collateral and certificate validity window (§2.5), when collateral was given. */
  validity: { from: Date; to: Date } | null;
  /** Collateral facts for claims (Trustee's QVL custom claims, §2.3). */
  collateralInfo: { pckCrlNumber: string | null; rootCaCrlNumber: string | null; earliestIssueDate: Date; latestIssueDate: Date } | null;
}

// Parsing a certificate or the PCK CRL costs more than a signature check, and the same few certificates and
// CRLs come with every quote of a platform, so parsed objects are kept by DER hash (bounded, oldest dropped).
const parsed = new Map<string, X509Certificate | CertificateList>();
const PARSED_MAX = 1024;

function memoParse<T extends X509Certificate | CertificateList>(kind: string, der: Uint8Array, parse: () => T): T {
  const key = `${kind}:${createHash('sha256').update(der).digest('hex')}`;
  const hit = parsed.get(key);
  if (hit) return hit as T;
  const value = parse();
  if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value as string);
  parsed.set(key, value);
  return value;
}

function loadCert(der: Uint8Array, what: string): X509Certificate {
  return memoParse('cert', der, () => {
    try {
      const c = new X509Certificate(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
      void c.publicKey;
      return c;
    } catch (e) {
      throw new CocoError('TDX_CERT_PARSE', `${what} is not an X.509 certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  });
}

function loadCrl(der: Uint8Array): CertificateList {
  return memoParse('crl', der, () => parseCrl(der));
}

export function commonName(dn: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? '';
}

// Certificate, CRL and collateral signatures are deterministic in their inputs, and one PCK chain and one
// collateral bundle serve every quote of a platform, so a verdict is remembered by the hash of everything it
// depends on (signer and signed bytes); a busy verifier then pays for the two quote signatures only.
const verdictCache = new Map<string, boolean>();
const VERDICT_CACHE_MAX = 4096;

function remembered(kind: string, parts: readonly Uint8Array[], compute: () => boolean): boolean {
  const h = createHash('sha256').update(kind);
  for (const p of parts) h.update(String(p.length)).update(p);
  const key = h.digest('hex');
  const hit = verdictCache.get(key);
  if (hit !== undefined) return hit;
  let ok: boolean;
  try {
    ok = compute();
  } catch {
    ok = false;
  }
  if (verdictCache.size >= VERDICT_CACHE_MAX) verdictCache.delete(verdictCache.keys().next().value as string);
  verdictCache.set(key, ok);
  return ok;
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return remembered('cert', [parent.raw, child.raw], () => child.checkIssued(parent) && child.verify(parent.publicKey));
}

function isP256(k: KeyObject): boolean {
  return k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

function p1363(data: Uint8Array, key: KeyObject, sig: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

function certWindow(c: X509Certificate): [Date, Date] {
  return [new Date(c.validFrom), new Date(c.validTo)];
}

function within(now: Date, [from, to]: [Date, Date]): boolean {
  return from.getTime() <= now.getTime() && now.getTime() <= to.getTime();
}

/** Subject and issuer Name DER of a certificate (tbsCertificate fields 4 and 6, RFC 5280 §4.1). */
function names(cert: X509Certificate): { issuer: Uint8Array; subject: Uint8Array } {
  const raw = new Uint8Array(cert.raw);
  const tbs = derChildren(derChildren(readDer(raw))[0]);
  const i = tbs[0]?.tag === 0xa0 ? 1 : 0;
  return { issuer: tbs[i + 2].raw, subject: tbs[i + 4].raw };
}

function serialOf(c: X509Certificate): bigint {
  return BigInt(`0x${c.serialNumber}`);
}

/** §2.1 items 3–4: exactly leaf, PCK Platform/Processor CA, pinned root; names, P-256 keys, signatures, validity. */
function verifyPckChain(quote: TdxQuote, root: TdxRoot, now: Date, checks: Check[]): TdxVerification['pck'] {
  const ders = quotePckChain(quote);
  if (ders.length !== 3) {
    throw new CocoError('TDX_PCK_CHAIN', `PCK certificate chain has ${ders.length} certificate(s); Trustee and QVL require leaf, intermediate and root`, { kind: 'input' });
  }
  const [leaf, inter, qroot] = ders.map((d, i) => loadCert(d, `PCK chain certificate ${i + 1}`));
  const pinned = bytesEqual(new Uint8Array(qroot.raw), new Uint8Array(root.root.raw));
  checks.push(
    check('pck-chain', pinned && issuedBy(qroot, qroot), `chain root is the pinned ${root.label} SGX Root CA and self-signed`, {
      expected: commonName(root.root.subject),
      actual: commonName(qroot.subject),
    }),
  );
  const interCn = commonName(inter.subject);
  const ca = interCn.includes('Processor') ? 'processor' : 'platform';
  const interOk = issuedBy(inter, root.root) && inter.ca && /SGX PCK (Platform|Processor) CA/.test(interCn) && isP256(inter.publicKey);
  checks.push(check('pck-chain', interOk, `${interCn} is a P-256 CA issued by ${commonName(root.root.subject)}`, { expected: 'Intel SGX PCK Platform CA or Processor CA', actual: interCn }));
  // QVL 4.1.2.4.4: the leaf CN names a PCK certificate.
  const leafOk = issuedBy(leaf, inter) && commonName(leaf.subject).includes('SGX PCK Certificate') && isP256(leaf.publicKey);
  checks.push(check('pck-chain', leafOk, `${commonName(leaf.subject)} is a P-256 PCK certificate issued by ${interCn}`, { expected: interCn, actual: commonName(leaf.issuer) }));
  for (const c of [root.root, inter, leaf]) {
    const w = certWindow(c);
    // A certificate whose validity dates do not parse is never valid (and must not throw while reporting it).
    const dated = w.every((d) => !Number.isNaN(d.getTime()));
    const when = (d: Date): string => (Number.isNaN(d.getTime()) ? '(unreadable date)' : d.toISOString());
    checks.push(check('pck-validity', dated && within(now, w), `${commonName(c.subject)} valid ${when(w[0])} .. ${when(w[1])}`, { actual: now.toISOString() }));
  }
  return { leaf, intermediate: inter, extensions: pckExtensions(new Uint8Array(leaf.raw)), ca };
}

/** QVL 4.1.2.4.12/13: the PCK key signs the QE report, whose REPORTDATA = SHA-256(att key ‖ QE auth data) ‖ 0³². */
function verifyQeReport(quote: TdxQuote, leaf: X509Certificate, checks: Check[]): void {
  const s = quote.signatureData;
  checks.push(check('qe-report-signature', p1363(serializeQeReport(s.qeReport), leaf.publicKey, s.qeReportSignature), 'QE report signed by the PCK leaf key (ECDSA P-256/SHA-256)'));
  const want = concatBytes(createHash('sha256').update(s.attestationKey).update(s.qeAuthData).digest(), new Uint8Array(32));
  // go-tdx-guest compares all 64 bytes (QVL only the first 32): the strict form (§1.4).
  checks.push(
    check('qe-report-data', bytesEqual(want, s.qeReport.reportData), 'QE REPORTDATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes', {
      expected: toHex(want),
      actual: toHex(s.qeReport.reportData),
    }),
  );
}

/** §2.1 item 7: the attestation key (on P-256) signs header ‖ body. */
function verifyQuoteSignature(quote: TdxQuote, raw: Uint8Array, checks: Check[]): void {
  const k = quote.signatureData.attestationKey;
  let key: KeyObject | null = null;
  try {
    key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: toBase64Url(k.subarray(0, 32)), y: toBase64Url(k.subarray(32)) }, format: 'jwk' });
  } catch {
    key = null;
  }
  const ok = key !== null && p1363(raw.subarray(0, signedLength(quote)), key, quote.signatureData.signature);
  checks.push(check('quote-signature', ok, key ? `quote bytes 0..${signedLength(quote)} signed by the attestation key` : 'attestation key is not a point on P-256'));
}

function verifySignedDoc<T>(id: string, doc: Signed<T>, root: TdxRoot, checks: Check[], what: string): X509Certificate | null {
  if (doc.issuerChain.length !== 2) {
    checks.push(check(id, false, `${what} issuer chain must be signing certificate ‖ root`, { actual: `${doc.issuerChain.length} certificate(s)` }));
    return null;
  }
  const [signer, r] = doc.issuerChain.map((d, i) => loadCert(d, `${what} issuer chain certificate ${i + 1}`));
  const pinned = bytesEqual(new Uint8Array(r.raw), new Uint8Array(root.root.raw));
  const chainOk = pinned && issuedBy(signer, root.root) && commonName(signer.subject).includes('TCB Signing');
  checks.push(check(id, chainOk, `${what} signer ${commonName(signer.subject)} is issued by the pinned ${root.label} SGX Root CA`));
  const text = new TextEncoder().encode(doc.raw);
  const signed = chainOk && remembered('doc', [signer.raw, text, doc.signature], () => p1363(text, signer.publicKey, doc.signature));
  checks.push(check(id, signed, `${what} signature by ${commonName(signer.subject)} over the exact JSON text`));
  return signer;
}

function verifyCrl(der: Uint8Array, issuer: X509Certificate, what: string, checks: Check[]): CertificateList | null {
  let crl: CertificateList;
  try {
    crl = loadCrl(der);
  } catch (e) {
    checks.push(check('crl', false, `${what}: ${(e as Error).message}`));
    return null;
  }
  const signed = remembered('crl', [issuer.raw, crl.tbs, crl.signature], () => cryptoVerify('sha256', crl.tbs, issuer.publicKey, crl.signature));
  const issuerOk = bytesEqual(crl.issuer, names(issuer).subject);
  checks.push(check('crl', signed && issuerOk, `${what} issued and signed by ${commonName(issuer.subject)}`));
  return signed && issuerOk ? crl : null;
}

function notRevoked(crl: CertificateList | null, c: X509Certificate, what: string, checks: Check[]): void {
  if (!crl) return;
  const hit = crl.revoked.find((r) => r.serialNumber === serialOf(c));
  checks.push(
    check('revocation', !hit, `${commonName(c.subject)} (serial ${c.serialNumber.toLowerCase()}) ${hit ? `revoked on ${hit.revocationDate.toISOString()}` : 'not revoked'} in the ${what}`),
  );
}

/** CRL number extension (2.5.29.20) of a CRL, as Trustee reports it (`pck_crl_num`, `root_ca_crl_num`). */
function crlNumber(der: Uint8Array): string | null {
  try {
    const tbs = derChildren(derChildren(readDer(der))[0]);
    const ext = tbs.find((n) => n.tag === 0xa0);
    if (!ext) return null;
    for (const e of derChildren(derChildren(ext)[0])) {
      const [oid, value] = derChildren(e);
      if (toHex(oid.value) === '551d14') {
        const n = readDer(readDer(value.value).raw);
        let v = 0n;
        for (const b of n.value) v = (v << 8n) | BigInt(b);
        return v.toString();
      }
    }
  } catch {
    return null;
  }
  return null;
}

const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** QVL 4.1.2.4.11: the module identity for TEE_TCB_SVN[1] > 0 (`TDX_%02X`), else TCB Info's `tdxModule`. */
function moduleIdentity(quote: TdxQuote, collateral: TdxCollateral): TdxModuleIdentity | null {
  const info = collateral.tcbInfo.value;
  const major = quote.body.teeTcbSvn[1];
  if (major > 0) return info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === `TDX_${hex2(major)}`) ?? null;
  return info.tdxModule ? { id: 'tdxModule', ...info.tdxModule, tcbLevels: [] } : null;
}

function verifyTdxModule(quote: TdxQuote, collateral: TdxCollateral, checks: Check[]): TcbStatus | 'NotSupported' {
  const major = quote.body.teeTcbSvn[1];
  const mod = moduleIdentity(quote, collateral);
  if (!mod) {
    checks.push(check('tdx-module', false, `TCB Info has no TDX module identity for TEE_TCB_SVN[1] = ${major}`, { expected: major > 0 ? `TDX_${hex2(major)}` : 'tdxModule' }));
    return 'NotSupported';
  }
  checks.push(check('tdx-module', bytesEqual(mod.mrSigner, quote.body.mrSignerSeam), `MRSIGNERSEAM equals ${mod.id}.mrsigner`, { expected: toHex(mod.mrSigner), actual: toHex(quote.body.mrSignerSeam) }));
  // QVL requires SEAMATTRIBUTES all zero and equal to the identity's attributes (it ignores the mask, §2.3 B).
  const attrOk = quote.body.seamAttributes.every((b) => b === 0) && bytesEqual(mod.attributes, quote.body.seamAttributes);
  checks.push(check('tdx-module', attrOk, `SEAMATTRIBUTES are zero and equal ${mod.id}.attributes`, { expected: toHex(mod.attributes), actual: toHex(quote.body.seamAttributes) }));
  if (major === 0) return 'UpToDate';
  const level = mod.tcbLevels.find((l) => quote.body.teeTcbSvn[0] >= l.isvSvn);
  checks.push(check('tdx-module', level !== undefined, `${mod.id} has a TCB level at or below module SVN ${quote.body.teeTcbSvn[0]}`, { actual: level?.tcbStatus ?? 'none' }));
  return level?.tcbStatus ?? 'NotSupported';
}

/** QVL 4.1.2.4.14/15: QE report against TD_QE identity; QE TCB status = first level with isvsvn ≤ ISVSVN. */
function verifyQeIdentity(quote: TdxQuote, collateral: TdxCollateral, checks: Check[]): { status: TcbStatus | 'NotSupported'; level: IsvTcbLevel | null } {
  const id = collateral.qeIdentity.value;
  const qe = quote.signatureData.qeReport;
  checks.push(check('qe-identity', (qe.miscSelect & id.miscSelectMask) >>> 0 === id.miscSelect >>> 0, 'QE MISCSELECT & mask equals the identity', { expected: hex8(id.miscSelect), actual: hex8((qe.miscSelect & id.miscSelectMask) >>> 0) }));
  const masked = qe.attributes.map((b, i) => b & id.attributesMask[i]);
  checks.push(check('qe-identity', bytesEqual(masked, id.attributes), 'QE ATTRIBUTES & mask equal the identity', { expected: toHex(id.attributes), actual: toHex(masked) }));
  checks.push(check('qe-identity', bytesEqual(qe.mrSigner, id.mrSigner), 'QE MRSIGNER equals the identity', { expected: toHex(id.mrSigner), actual: toHex(qe.mrSigner) }));
  checks.push(check('qe-identity', qe.isvProdId === id.isvProdId, 'QE ISVPRODID equals the identity', { expected: String(id.isvProdId), actual: String(qe.isvProdId) }));
  const level = id.tcbLevels.find((l) => l.isvSvn <= qe.isvSvn) ?? null;
  return { status: level?.tcbStatus ?? 'NotSupported', level };
}

/** §2.3 C.2: SGX match = PCK component SVNs and PCESVN ≥ the level's; TDX match adds TEE_TCB_SVN from index 2 (or 0). */
function matchLevels(quote: TdxQuote, ext: PckExtensions, levels: readonly TdxTcbLevel[]): { sgx: TdxTcbLevel | null; tdx: TdxTcbLevel | null } {
  let sgx: TdxTcbLevel | null = null;
  const start = quote.body.teeTcbSvn[1] > 0 ? 2 : 0;
  for (const l of levels) {
    const sgxOk = l.sgxComponents.every((svn, i) => ext.tcb.sgxComponents[i] >= svn) && ext.tcb.pceSvn >= l.pceSvn;
    if (!sgxOk) continue;
    sgx ??= l;
    let tdxOk = true;
    for (let i = start; i < 16; i++) if (quote.body.teeTcbSvn[i] < l.tdxComponents[i]) tdxOk = false;
    if (tdxOk) return { sgx, tdx: l };
  }
  return { sgx, tdx: null };
}

/** `convergeTcbStatusWithTdxModuleStatus` (§2.3 C.5). */
function convergeModule(s: TcbStatus, mod: TcbStatus | 'NotSupported'): TcbStatus {
  if (mod === 'OutOfDate') {
    if (s === 'UpToDate' || s === 'SWHardeningNeeded') return 'OutOfDate';
    if (s === 'ConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  if (mod === 'Revoked') return 'Revoked';
  return s;
}

/** `convergeTcbStatusWithQeTcbStatus` (§2.3 C.7). */
function convergeQe(s: TdxTcbResult, qe: TcbStatus | 'NotSupported'): TdxTcbResult {
  if (qe === 'NotSupported') return 'NotSupported';
  if (qe === 'Revoked') return 'Revoked';
  if (qe === 'OutOfDate') {
    if (s === 'UpToDate' || s === 'SWHardeningNeeded') return 'OutOfDate';
    if (s === 'ConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded') return 'OutOfDateConfigurationNeeded';
  }
  return s;
}

const CONFIG_NEEDED: readonly string[] = ['ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDateConfigurationNeeded'];

/** TD relaunch advice for body type 3 (`TDRelaunchCheck`, §2.3 C.6). */
function relaunch(quote: TdxQuote, collateral: TdxCollateral, sgx: TdxTcbLevel, tdx: TdxTcbLevel, modStatus: string, qeStatus: string): TdxTcbResult | null {
  const svn2 = quote.body.teeTcbSvn2;
  if (!svn2 || quote.bodyType !== 3) return null;
  if (['OutOfDate', 'Revoked', 'NotSupported'].includes(qeStatus)) return null;
  if (!['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'].includes(sgx.tcbStatus)) return null;
  if (!['OutOfDate', 'OutOfDateConfigurationNeeded'].includes(tdx.tcbStatus) || modStatus !== 'OutOfDate') return null;
  const latest = collateral.tcbInfo.value.tcbLevels[0];
  let advised = false;
  if (svn2[1] === 0) advised = svn2[0] >= latest.tdxComponents[0] && svn2[2] >= latest.tdxComponents[2];
  else {
    const mod = collateral.tcbInfo.value.tdxModuleIdentities.find((m) => m.id.toUpperCase() === `TDX_${hex2(svn2[1])}`);
    advised = mod !== undefined && mod.tcbLevels.length > 0 && svn2[0] >= mod.tcbLevels[0].isvSvn && svn2[2] >= latest.tdxComponents[2];
  }
  if (!advised) return null;
  return CONFIG_NEEDED.includes(sgx.tcbStatus) || CONFIG_NEEDED.includes(tdx.tcbStatus) ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised';
}

function evaluateTcb(quote: TdxQuote, ext: PckExtensions, collateral: TdxCollateral, checks: Check[]): TdxTcbEvaluation {
  const info = collateral.tcbInfo.value;
  const fmspcOk = toHex(ext.fmspc) === toHex(info.fmspc);
  checks.push(check('fmspc', fmspcOk, 'PCK FMSPC equals TCB Info fmspc', { expected: toHex(info.fmspc), actual: toHex(ext.fmspc) }));
  checks.push(check('pce-id', bytesEqual(ext.pceId, info.pceId), 'PCK PCE-ID equals TCB Info pceId', { expected: toHex(info.pceId), actual: toHex(ext.pceId) }));
  const moduleStatus = verifyTdxModule(quote, collateral, checks);
  const qe = verifyQeIdentity(quote, collateral, checks);
  checks.push(check('qe-tcb', qe.status !== 'NotSupported', `QE ISVSVN ${quote.signatureData.qeReport.isvSvn} has a QE identity TCB level`, { actual: qe.status }));
  const { sgx, tdx } = matchLevels(quote, ext, info.tcbLevels);
  checks.push(
    check('tcb-level', tdx !== null, tdx ? `TCB level ${tdx.tcbDate} matches the PCK SGX TCB and TEE_TCB_SVN` : 'no TCB level matches the PCK SGX TCB components, PCESVN and TEE_TCB_SVN', {
      actual: `sgx ${ext.tcb.sgxComponents.join(',')} pcesvn ${ext.tcb.pceSvn} tee_tcb_svn ${toHex(quote.body.teeTcbSvn)}`,
    }),
  );
  let status: TdxTcbResult;
  const advisories = new Set<string>();
  if (!sgx || !tdx || moduleStatus === 'NotSupported') status = 'NotSupported';
  else {
    for (const a of tdx.advisoryIds) advisories.add(a);
    const major = quote.body.teeTcbSvn[1];
    if (major > 0) {
      const mod = moduleIdentity(quote, collateral);
      for (const a of mod?.tcbLevels.find((l) => quote.body.teeTcbSvn[0] >= l.isvSvn)?.advisoryIds ?? []) advisories.add(a);
    }
    status = relaunch(quote, collateral, sgx, tdx, moduleStatus, qe.status) ?? convergeModule(tdx.tcbStatus, moduleStatus);
  }
  for (const a of qe.level?.advisoryIds ?? []) advisories.add(a);
  status = convergeQe(status, qe.status);
  checks.push(
    check('tcb-status', status !== 'NotSupported' && status !== 'Revoked', `TCB status ${status}${advisories.size ? ` (${[...advisories].join(', ')})` : ''}`, {
      actual: status,
    }),
  );
  return {
    status,
    advisoryIds: [...advisories],
    tcbDate: tdx?.tcbDate ?? null,
    qeStatus: qe.status,
    sgxLevel: sgx,
    tdxLevel: tdx,
    moduleStatus,
    tcbEvaluationDataNumber: info.tcbEvaluationDataNumber,
  };
}

function verifyCollateral(
  quote: TdxQuote,
  pck: TdxVerification['pck'],
  collateral: TdxCollateral,
  root: TdxRoot,
  opts: TdxVerifyOptions,
  checks: Check[],
): Pick<TdxVerification, 'validity' | 'collateralExpired' | 'collateralInfo'> {
  const now = opts.now;
  const info = collateral.tcbInfo.value;
  const qeId = collateral.qeIdentity.value;
  // A: collateral authenticity (QVL TCBInfoVerifier, EnclaveIdentityVerifier, PckCrlVerifier).
  const rootCrl = verifyCrl(collateral.rootCaCrl, root.root, 'Root CA CRL', checks);
  const pckCrl = verifyCrl(collateral.pckCrl, pck.intermediate, `PCK ${pck.ca} CA CRL`, checks);
  const tcbSigner = verifySignedDoc('tcb-info-signature', collateral.tcbInfo, root, checks, 'TCB Info');
  checks.push(
    check('tcb-info-signature', info.id === 'TDX' && info.version === 3 && info.tcbLevels.length > 0, 'TCB Info is a TDX TCB Info version 3 with TCB levels', {
      expected: 'TDX v3',
      actual: `${info.id} v${info.version}, ${info.tcbLevels.length} level(s)`,
    }),
  );
  const qeSigner = verifySignedDoc('qe-identity-signature', collateral.qeIdentity, root, checks, 'QE Identity');
  checks.push(
    check('qe-identity-signature', qeId.id === 'TD_QE' && (qeId.version === 2 || qeId.version === 3), 'QE Identity is a TD_QE identity version 2', {
      expected: 'TD_QE v2',
      actual: `${qeId.id} v${qeId.version}`,
    }),
  );
  notRevoked(pckCrl, pck.leaf, `PCK ${pck.ca} CA CRL`, checks);
  notRevoked(rootCrl, pck.intermediate, 'Root CA CRL', checks);
  for (const s of [tcbSigner, qeSigner]) if (s) notRevoked(rootCrl, s, 'Root CA CRL', checks);

  // §2.5: the bundle is valid in the intersection of every window it carries.
  const windows: Array<[Date, Date]> = [
    [info.issueDate, info.nextUpdate],
    [qeId.issueDate, qeId.nextUpdate],
    ...[collateral.pckCrl, collateral.rootCaCrl].flatMap((d): Array<[Date, Date]> => {
      try {
        const c = loadCrl(d);
        return [[c.thisUpdate, c.nextUpdate ?? new Date(8.64e15)]];
      } catch {
        return [];
      }
    }),
    ...[...collateral.tcbInfo.issuerChain, ...collateral.qeIdentity.issuerChain, ...collateral.pckCrlIssuerChain, ...quotePckChain(quote)].map((d) => certWindow(loadCert(d, 'collateral certificate'))),
  ];
  const from = new Date(Math.max(...windows.map((w) => w[0].getTime())));
  const to = new Date(Math.min(...windows.map((w) => w[1].getTime())));
  // A certificate or CRL whose dates do not parse leaves the window undated: never valid, and reported, not thrown.
  const dated = !Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime());
  const expired = !dated || !within(now, [from, to]);
  const when = (d: Date): string => (Number.isNaN(d.getTime()) ? '(unreadable date)' : d.toISOString());
  checks.push(
    check('collateral-validity', dated && (!expired || opts.allowExpiredCollateral === true), `collateral valid ${when(from)} .. ${when(to)}${expired && dated && opts.allowExpiredCollateral ? ' (expired, allowed)' : ''}`, {
      expected: `${when(from)}..${when(to)}`,
      actual: now.toISOString(),
    }),
  );
  const issues = [info.issueDate, qeId.issueDate];
  return {
    validity: { from, to },
    collateralExpired: expired,
    collateralInfo: {
      pckCrlNumber: crlNumber(collateral.pckCrl),
      rootCaCrlNumber: crlNumber(collateral.rootCaCrl),
      earliestIssueDate: new Date(Math.min(...issues.map((d) => d.getTime()))),
      latestIssueDate: new Date(Math.max(...issues.map((d) => d.getTime()))),
    },
  };
}

/**
 * Verifies a parsed TD quote. Throws input errors for malformed certificates or a PCK chain that is not
 * three certificates, `unsupported` for certification data other than a PCK chain; every other finding is
 * a Check. Without collateral `tcb` is null: the quote is authentic but its TCB is not judged.
 */
export function verifyQuote(quote: TdxQuote, opts: TdxVerifyOptions): TdxVerification {
  const checks: Check[] = [];
  const root = opts.root ?? intelRoot();
  const raw = opts.raw ?? serializeQuote(quote);
  checks.push(
    check('quote-format', toHex(quote.header.qeVendorId) === INTEL_QE_VENDOR_ID, 'QE vendor id is Intel', { expected: INTEL_QE_VENDOR_ID, actual: toHex(quote.header.qeVendorId) }),
  );
  const pck = verifyPckChain(quote, root, opts.now, checks);
  verifyQeReport(quote, pck.leaf, checks);
  verifyQuoteSignature(quote, raw, checks);
  if (!opts.collateral) return { checks, quote, pck, tcb: null, collateralExpired: null, validity: null, collateralInfo: null };
  const col = verifyCollateral(quote, pck, opts.collateral, root, opts, checks);
  const tcb = evaluateTcb(quote, pck.extensions, opts.collateral, checks);
  return { checks, quote, pck, tcb, ...col };
}

/** Check ids whose failure means the evidence or its collateral is not authentic (CLI exit 2). */
export const CRYPTO_CHECKS: ReadonlySet<string> = new Set([
  'quote-format',
  'pck-chain',
  'pck-validity',
  'qe-report-signature',
  'qe-report-data',
  'quote-signature',
  'crl',
  'revocation',
  'tcb-info-signature',
  'qe-identity-signature',
  'collateral-validity',
  'ccel-replay',
]);
