/**
 * SEV-SNP report verification (specs/snp.md §1.6, §2.3): the AMD chain ARK → ASK/ASVK → VCEK/VLEK, the
 * report's ECDSA-P384 signature, the VEK's TCB and chip binding, certificate validity at an injected time
 * and CRLs. Every step appends a Check; nothing here decides policy (validate.ts does expectations).
 *
 * Reads like the spec: resolveVek → product → verifyChain → verifyValidity → verifyCrls →
 * verifySignature → verifyTcb → verifyChipId.
 */
import { X509Certificate, constants, createHash, verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CocoError } from '../../errors.js';
import { check, type Check } from '../../formats/check.js';
import { bytesEqual, isAllZero, toHex } from '../../formats/bytes.js';
import { certPublicKey, parseCrl } from '../../formats/x509.js';
import {
  SIGNED_LENGTH,
  decodeKeyInfo,
  decodePolicy,
  decodeTcb,
  kdsProductName,
  layoutOf,
  reportProduct,
  serializeReport,
  type CertTableEntry,
  type SnpProduct,
  type SnpReport,
} from './format.js';
import {
  amdRoots,
  certRole,
  commonName,
  loadCertificate,
  productFromIssuer,
  productFromName,
  sha256Der,
  vcekCachePaths,
  vekExtensions,
  type RootSet,
  type VekExtensions,
} from './certs.js';

export interface SnpVerifyOptions {
  /** Verification time for certificate validity and CRLs (an injected clock). */
  now: Date;
  /** Product for version-2 reports (v3+ reports name theirs in the CPUID bytes). */
  product?: SnpProduct;
  /** An explicit VCEK/VLEK (DER or PEM); wins over the evidence's certificate table and the cache. */
  vek?: Uint8Array;
  /** The extended report's certificate table (CoCo evidence `cert_chain`, configfs `auxblob`). */
  certTable?: readonly CertTableEntry[];
  /** Extra chain certificates (a KDS `cert_chain` bundle: ASK/ASVK and ARK). */
  chain?: readonly X509Certificate[];
  /** DER CRLs (KDS `/vcek/v1/<Product>/crl`), checked against the ARK. */
  crls?: readonly Uint8Array[];
  /** Offline VCEK cache in Trustee's layout (specs/landscape.md §6). */
  cacheDir?: string;
  /** Trust anchors; the shipped AMD roots unless a caller passes another set explicitly. */
  roots?: RootSet;
  /** The report's ABI bytes when the caller has them (saves re-serializing). */
  raw?: Uint8Array;
}

export interface SnpVerification {
  checks: Check[];
  /** The report, with TCBs re-decoded if the product turned out different from the parse-time guess. */
  report: SnpReport;
  product: SnpProduct;
  signer: 'vcek' | 'vlek';
  vek: X509Certificate;
  vekExtensions: VekExtensions;
  /** Where the VEK came from: `file`, `evidence`, `cache`. */
  vekSource: string;
}

// Chain signatures are deterministic in their inputs, so a verified (issuer, subject) pair is cached by DER
// hash; a busy verifier then pays only for the report signature (bench/snp).
const chainCache = new Map<string, boolean>();
const CHAIN_CACHE_MAX = 4096;

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  const key = `${sha256Der(parent)}/${sha256Der(child)}`;
  const hit = chainCache.get(key);
  if (hit !== undefined) return hit;
  let ok: boolean;
  try {
    ok = child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    ok = false;
  }
  if (chainCache.size >= CHAIN_CACHE_MAX) chainCache.delete(chainCache.keys().next().value as string);
  chainCache.set(key, ok);
  return ok;
}

/** Little-endian 72-byte r/s → 96-byte big-endian IEEE P1363 signature (§1.6). */
export function reportSignatureP1363(r: SnpReport): Uint8Array | null {
  const be = (le: Uint8Array): Uint8Array | null => {
    if (!isAllZero(le.subarray(48))) return null; // P-384 values fill the low 48 bytes only
    return new Uint8Array(le.subarray(0, 48)).reverse();
  };
  const rr = be(r.signatureR);
  const ss = be(r.signatureS);
  if (!rr || !ss) return null;
  const out = new Uint8Array(96);
  out.set(rr, 0);
  out.set(ss, 48);
  return out;
}

// Parsing a certificate costs more than the report signature check (bench/snp), and a VEK serves every
// report of its chip, so parsed VEKs are kept by DER hash.
const vekCache = new Map<string, { cert: X509Certificate; ext: VekExtensions }>();
const VEK_CACHE_MAX = 1024;

function parsedVek(der: Uint8Array, what: string): { cert: X509Certificate; ext: VekExtensions } {
  const key = createHash('sha256').update(der).digest('hex');
  const hit = vekCache.get(key);
  if (hit) return hit;
  const cert = loadCertificate(der, what);
  const entry = { cert, ext: vekExtensions(new Uint8Array(cert.raw)) };
  if (vekCache.size >= VEK_CACHE_MAX) vekCache.delete(vekCache.keys().next().value as string);
  vekCache.set(key, entry);
  return entry;
}

// Extended reports usually carry the ASK and ARK too; they are parsed once per DER, like VEKs.
const chainCertCache = new Map<string, X509Certificate>();
const CHAIN_CERT_CACHE_MAX = 256;

function parsedChainCert(der: Uint8Array, what: string): X509Certificate {
  const key = createHash('sha256').update(der).digest('hex');
  const hit = chainCertCache.get(key);
  if (hit) return hit;
  const cert = loadCertificate(der, what);
  if (chainCertCache.size >= CHAIN_CERT_CACHE_MAX) chainCertCache.delete(chainCertCache.keys().next().value as string);
  chainCertCache.set(key, cert);
  return cert;
}

interface ResolvedVek {
  cert: X509Certificate;
  ext: VekExtensions;
  source: string;
}

function fromTable(table: readonly CertTableEntry[] | undefined, type: 'VCEK' | 'VLEK'): Uint8Array | null {
  return table?.find((e) => e.type === type)?.data ?? null;
}

function resolveVek(report: SnpReport, signer: 'vcek' | 'vlek', product: SnpProduct | null, opts: SnpVerifyOptions): ResolvedVek {
  if (opts.vek) return { ...parsedVek(opts.vek, 'VCEK/VLEK file'), source: 'file' };
  // The entry of the report's signer type first; the other type is still taken, so the signing-key check
  // can name the mismatch instead of reporting the key as missing.
  const table = fromTable(opts.certTable, signer === 'vcek' ? 'VCEK' : 'VLEK') ?? fromTable(opts.certTable, signer === 'vcek' ? 'VLEK' : 'VCEK');
  if (table) return { ...parsedVek(table, 'certificate table VEK'), source: 'evidence' };
  if (opts.cacheDir && signer === 'vcek' && product && !isAllZero(report.chipId)) {
    for (const p of vcekCachePaths(opts.cacheDir, product, report.chipId, report.reportedTcb)) {
      if (existsSync(p)) return { ...parsedVek(new Uint8Array(readFileSync(p)), p), source: `cache:${p}` };
    }
  }
  const why =
    signer === 'vlek'
      ? 'a VLEK-signed report needs the VLEK in the evidence or as a file'
      : isAllZero(report.chipId)
        ? 'CHIP_ID is masked, so no VCEK can be looked up by chip'
        : opts.cacheDir
          ? `no VCEK for this chip/TCB in the cache ${opts.cacheDir} (fill it with \`cocokit snp fetch-vcek\`)`
          : 'no VCEK in the evidence, no --vcek file and no cache directory';
  throw new CocoError('SNP_VEK_UNAVAILABLE', `${signer.toUpperCase()} unavailable: ${why}`, { kind: 'unavailable' });
}

/**
 * Picks the product: the report's CPUID (v3+), else configuration, else the VEK's issuer / productName.
 * `vek-product` records whether the VEK was issued for that product; whether it is the product the caller
 * wanted is an expectation (validate.ts `product`).
 */
function resolveProduct(report: SnpReport, vek: X509Certificate, ext: VekExtensions, opts: SnpVerifyOptions, checks: Check[]): SnpProduct {
  const fromReport = reportProduct(report);
  const fromCert = productFromIssuer(vek) ?? productFromName(ext.productName);
  if (report.version >= 3 && !fromReport) {
    throw new CocoError('SNP_PRODUCT', `unknown CPU: family 0x${report.cpuidFamId?.toString(16)} model 0x${report.cpuidModId?.toString(16)}`, {
      kind: 'unsupported',
    });
  }
  const product = fromReport ?? opts.product ?? fromCert;
  if (!product) throw new CocoError('SNP_PRODUCT', 'version-2 report: the product cannot be determined (pass --product)', { kind: 'usage' });
  const source = fromReport ? 'report CPUID' : opts.product ? 'configuration (version-2 report)' : 'the VEK (version-2 report)';
  checks.push(
    check('vek-product', fromCert === product, `VEK issuer/productName names the product taken from ${source}`, {
      expected: kdsProductName(product),
      actual: fromCert ? kdsProductName(fromCert) : `issuer ${commonName(vek.issuer)}, productName ${ext.productName}`,
    }),
  );
  return product;
}

/** Supplied chain certificates: from --cert-chain and from the evidence table (the ASK GUID also carries the ASVK). */
function suppliedChain(opts: SnpVerifyOptions): X509Certificate[] {
  const supplied: X509Certificate[] = [...(opts.chain ?? [])];
  for (const e of opts.certTable ?? []) if (e.type === 'ARK' || e.type === 'ASK') supplied.push(parsedChainCert(e.data, `certificate table ${e.type}`));
  return supplied;
}

/**
 * The chain's findings depend only on the certificates (the trust anchors, the supplied ones and the VEK,
 * all named by DER hash in the key) and on the product and signer type, never on the report or the time:
 * they are computed once per such combination. Validity at the verification time, CRLs, the signature, the
 * TCB and the chip binding are checked on every report.
 */
const chainVerdicts = new Map<string, { checks: readonly Check[]; certs: X509Certificate[] }>();
const CHAIN_VERDICTS_MAX = 1024;

function verifyChainOnce(product: SnpProduct, signer: 'vcek' | 'vlek', vek: X509Certificate, supplied: X509Certificate[], roots: RootSet, checks: Check[]): X509Certificate[] {
  const root = roots[product];
  if (!root) return verifyChain(product, signer, vek, supplied, roots, checks);
  const key = [product, signer, roots.label ?? '', sha256Der(root.ark), sha256Der(root.ask), root.asvk ? sha256Der(root.asvk) : '-', ...supplied.map(sha256Der), 'vek', sha256Der(vek)].join('|');
  let verdict = chainVerdicts.get(key);
  if (!verdict) {
    const found: Check[] = [];
    const certs = verifyChain(product, signer, vek, supplied, roots, found);
    verdict = { checks: found, certs };
    if (chainVerdicts.size >= CHAIN_VERDICTS_MAX) chainVerdicts.delete(chainVerdicts.keys().next().value as string);
    chainVerdicts.set(key, verdict);
  }
  // Callers own the checks they get: copies, so no caller can alter a cached finding.
  for (const c of verdict.checks) checks.push({ ...c });
  return verdict.certs;
}

/** Chain: pinned ARK (self-signed) → ASK/ASVK → VEK, each with names and RSASSA-PSS signatures (§2.1, §2.3 item 4). */
function verifyChain(product: SnpProduct, signer: 'vcek' | 'vlek', vek: X509Certificate, supplied: X509Certificate[], roots: RootSet, checks: Check[]): X509Certificate[] {
  const root = roots[product];
  const P = kdsProductName(product);
  if (!root) {
    checks.push(check('chain', false, `no ${roots.label ?? ''} root of trust configured for ${P}`.replace(/\s+/g, ' ')));
    return [];
  }
  const interRole = signer === 'vcek' ? 'ask' : 'asvk';
  const ofRole = (r: string): X509Certificate | undefined => supplied.find((c) => certRole(c)?.role === r);
  const ark = ofRole('ark') ?? root.ark;
  // A supplied intermediate of the wrong role still replaces the bundled one, so a VLEK offered with a VCEK
  // cert_chain fails (vector neg-vlek-with-vcek-chain) instead of silently using the bundled ASVK.
  const inter = ofRole(interRole) ?? ofRole(interRole === 'ask' ? 'asvk' : 'ask') ?? (signer === 'vcek' ? root.ask : root.asvk);
  const pinned = sha256Der(ark) === sha256Der(root.ark);
  checks.push(
    check('chain', pinned && issuedBy(ark, ark), `ARK is the pinned ${roots.label ?? ''} ARK-${P} and self-signed`.replace(/\s+/g, ' '), {
      expected: commonName(root.ark.subject) ?? undefined,
      actual: commonName(ark.subject) ?? undefined,
    }),
  );
  if (!inter) {
    checks.push(check('chain', false, `no ${interRole.toUpperCase()} for ${P}`));
    return [ark];
  }
  const interOk = issuedBy(inter, ark) && inter.ca && certRole(inter)?.role === interRole;
  checks.push(
    check('chain', interOk, `${interRole.toUpperCase()} ${commonName(inter.subject)} is a CA issued by ${commonName(ark.subject)}`, {
      expected: `${interRole === 'ask' ? 'SEV' : 'SEV-VLEK'}-${P}`,
      actual: commonName(inter.subject) ?? undefined,
    }),
  );
  const vekOk = issuedBy(vek, inter) && certRole(vek)?.role === signer;
  checks.push(
    check('chain', vekOk, `${signer.toUpperCase()} ${commonName(vek.subject)} is signed by ${commonName(inter.subject)}${vekOk ? '' : ' (signature or names do not verify)'}`, {
      expected: commonName(inter.subject) ?? undefined,
      actual: commonName(vek.issuer) ?? undefined,
    }),
  );
  return [ark, inter];
}

function certTime(s: string): Date {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new CocoError('SNP_CERT_PARSE', `unreadable certificate time ${JSON.stringify(s)}`, { kind: 'input' });
  return d;
}

/** A certificate's validity window and the words of its check, read once per certificate object. */
const validityOf = new WeakMap<X509Certificate, { from: number; to: number; detail: string; expected: string }>();

function verifyValidity(certs: X509Certificate[], now: Date, checks: Check[]): void {
  const t = now.getTime();
  const actual = now.toISOString();
  for (const c of certs) {
    let w = validityOf.get(c);
    if (!w) {
      const from = certTime(c.validFrom);
      const to = certTime(c.validTo);
      w = { from: from.getTime(), to: to.getTime(), detail: `${commonName(c.subject)} valid ${from.toISOString()} .. ${to.toISOString()}`, expected: `${from.toISOString()}..${to.toISOString()}` };
      validityOf.set(c, w);
    }
    checks.push(check('validity', w.from <= t && t <= w.to, w.detail, { expected: w.expected, actual }));
  }
}

/** CRLs signed by the ARK (go-sev-guest `verifyCRL`): the intermediate and VEK serials must not be listed. */
function verifyCrls(crls: readonly Uint8Array[], ark: X509Certificate, certs: X509Certificate[], now: Date, checks: Check[]): void {
  for (const [i, der] of crls.entries()) {
    const crl = parseCrl(der);
    let signed = false;
    try {
      signed = cryptoVerify('sha384', crl.tbs, { key: ark.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, crl.signature);
    } catch {
      signed = false;
    }
    const fresh = crl.thisUpdate.getTime() <= now.getTime() && (crl.nextUpdate === null || now.getTime() <= crl.nextUpdate.getTime());
    checks.push(
      check('crl', signed && fresh, `CRL ${i + 1} signed by ${commonName(ark.subject)} and current (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate?.toISOString() ?? 'none'})`),
    );
    if (!signed) continue;
    for (const c of certs) {
      const serial = BigInt(`0x${c.serialNumber}`);
      const hit = crl.revoked.find((r) => r.serialNumber === serial);
      checks.push(
        check('crl', !hit, `${commonName(c.subject)} (serial 0x${c.serialNumber.toLowerCase()}) ${hit ? `revoked on ${hit.revocationDate.toISOString()}` : 'not revoked'}`),
      );
    }
  }
}

function verifySignature(report: SnpReport, raw: Uint8Array, vek: X509Certificate, checks: Check[]): void {
  const key = certPublicKey(vek);
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') {
    checks.push(check('signature', false, 'VEK public key is not EC P-384', { expected: 'ec secp384r1', actual: `${key.asymmetricKeyType} ${details?.namedCurve ?? ''}`.trim() }));
    return;
  }
  if (report.signatureAlgo !== 1) {
    checks.push(check('signature', false, 'SIGNATURE_ALGO must be 1 (ECDSA P-384 with SHA-384)', { expected: '1', actual: String(report.signatureAlgo) }));
    return;
  }
  const sig = reportSignatureP1363(report);
  let ok = false;
  if (sig) {
    try {
      ok = cryptoVerify('sha384', raw.subarray(0, SIGNED_LENGTH), { key, dsaEncoding: 'ieee-p1363' }, sig);
    } catch {
      ok = false;
    }
  }
  checks.push(check('signature', ok, sig ? 'ECDSA P-384/SHA-384 over report bytes 0x000..0x29F with the VEK' : 'signature r/s exceed 48 bytes'));
}

/** The VEK's SPL extensions must equal REPORTED_TCB — not CURRENT_TCB (§2.3 item 6); fmcSPL on Turin. */
function verifyTcb(report: SnpReport, product: SnpProduct, ext: VekExtensions, checks: Check[]): void {
  const t = report.reportedTcb;
  const parts: Array<[string, string, number | null, number | null]> = [
    ['bootloader', 'blSPL', ext.bootloader, t.bootloader],
    ['tee', 'teeSPL', ext.tee, t.tee],
    ['snp', 'snpSPL', ext.snp, t.snp],
    ['microcode', 'ucodeSPL', ext.microcode, t.microcode],
  ];
  if (product === 'turin') parts.push(['fmc', 'fmcSPL', ext.fmc, t.fmc]);
  for (const [name, oid, cert, rep] of parts) {
    checks.push(
      check('tcb', cert !== null && cert === rep, `VEK ${oid} equals REPORTED_TCB.${name}`, {
        expected: cert === null ? 'extension present' : String(cert),
        actual: rep === null ? 'absent' : String(rep),
      }),
    );
  }
}

/**
 * hwID == CHIP_ID (Turin: the 8-byte hwID is CHIP_ID[0..8] and the rest must be zero). Trustee skips this
 * because it looks for subject CN "VCEK" while AMD issues "SEV-VCEK" (§1.9 item 5, §6); we do not.
 */
function verifyChipId(report: SnpReport, signer: 'vcek' | 'vlek', ext: VekExtensions, checks: Check[]): void {
  if (signer === 'vlek') {
    const ok = ext.hwId === null && ext.cspId !== null;
    checks.push(check('chip-id', ok, ok ? `VLEK: bound to the cloud provider (${ext.cspId}), not to a chip` : 'VLEK must carry cspID and no hwID'));
    return;
  }
  if (!ext.hwId) {
    checks.push(check('chip-id', false, 'VCEK has no hwID extension', { actual: toHex(report.chipId) }));
    return;
  }
  const n = ext.hwId.length;
  const ok = !isAllZero(report.chipId) && bytesEqual(ext.hwId, report.chipId.subarray(0, n)) && isAllZero(report.chipId.subarray(n));
  checks.push(check('chip-id', ok, `VCEK hwID (${n} bytes) equals CHIP_ID`, { expected: toHex(ext.hwId), actual: toHex(report.chipId) }));
}

/** Structural facts go-sev-guest rejects outright: key-info and policy reserved bits (§1.2, §1.4). */
function verifyReportFields(report: SnpReport, checks: Check[]): void {
  const ki = decodeKeyInfo(report.keyInfo);
  const pol = decodePolicy(report.policy);
  const problems = [
    ki.reserved !== 0 ? 'key info bits 31:5 set' : '',
    !pol.reservedOne ? 'policy bit 17 is 0' : '',
    pol.reservedHigh !== 0n ? 'policy bits 63:26 set' : '',
  ].filter(Boolean);
  checks.push(check('report-format', problems.length === 0, problems.length ? problems.join('; ') : `version ${report.version}, reserved bits clear`));
}

/**
 * Verifies a parsed report against the AMD chain. Throws `SNP_VEK_UNAVAILABLE` (kind `unavailable`) when no
 * VEK can be found, `SNP_UNSIGNED` (kind `crypto`) for SIGNING_KEY = none/reserved, and input errors for
 * malformed certificates; every other finding is a Check.
 */
export function verifyReport(parsed: SnpReport, opts: SnpVerifyOptions): SnpVerification {
  const checks: Check[] = [];
  let report = parsed;
  verifyReportFields(report, checks);
  const ki = decodeKeyInfo(report.keyInfo);
  if (ki.signingKey !== 'vcek' && ki.signingKey !== 'vlek') {
    throw new CocoError('SNP_UNSIGNED', `report SIGNING_KEY is ${ki.signingKeyCode} (${ki.signingKey}): not signed by a VCEK or VLEK`, { kind: 'crypto' });
  }
  const signer = ki.signingKey;
  const { cert: vek, ext, source } = resolveVek(report, signer, reportProduct(report) ?? opts.product ?? null, opts);
  const vekRole = certRole(vek)?.role;
  checks.push(
    check('signing-key', vekRole === signer, `report SIGNING_KEY names the ${signer.toUpperCase()}`, {
      expected: signer === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK',
      actual: commonName(vek.subject) ?? '',
    }),
  );
  const product = resolveProduct(report, vek, ext, opts, checks);
  if (layoutOf(product) !== report.tcbLayout) {
    // A v2 report's TCB layout was guessed at parse time; the product now known decides it.
    const layout = layoutOf(product);
    report = {
      ...report,
      tcbLayout: layout,
      currentTcb: decodeTcb(report.currentTcb.raw, layout),
      reportedTcb: decodeTcb(report.reportedTcb.raw, layout),
      committedTcb: decodeTcb(report.committedTcb.raw, layout),
      launchTcb: decodeTcb(report.launchTcb.raw, layout),
    };
  }
  const [ark, inter] = verifyChainOnce(product, signer, vek, suppliedChain(opts), opts.roots ?? amdRoots(), checks);
  verifyValidity([ark, inter, vek].filter((c): c is X509Certificate => c !== undefined), opts.now, checks);
  if (opts.crls?.length && ark) verifyCrls(opts.crls, ark, [inter, vek].filter((c): c is X509Certificate => c !== undefined), opts.now, checks);
  verifySignature(report, opts.raw ?? serializeReport(report), vek, checks);
  verifyTcb(report, product, ext, checks);
  verifyChipId(report, signer, ext, checks);
  return { checks, report, product, signer, vek, vekExtensions: ext, vekSource: source };
}

/** Check ids whose failure means the evidence is not authentic (CLI exit 2), as opposed to an expectation (exit 5). */
export const CRYPTO_CHECKS: ReadonlySet<string> = new Set(['report-format', 'signing-key', 'vek-product', 'chain', 'validity', 'crl', 'signature', 'tcb', 'chip-id']);
