/**
 * AMD certificate facts for SEV-SNP (specs/snp.md §2): the VCEK/VLEK extensions, the shipped ARK/ASK/ASVK
 * roots (pinned by SHA-256), certificate roles, KDS URLs and the offline cache layout Trustee reads
 * (specs/landscape.md §6).
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CocoError } from '../../errors.js';
import { toHex, isAllZero } from '../../formats/bytes.js';
import { decodeDerInteger, decodeDerString, parseCertificate, readDer } from '../../formats/x509.js';
import { kdsProductName, PRODUCTS, type SnpProduct, type TcbVersion } from './format.js';

export const AMD_OID = '1.3.6.1.4.1.3704.1';

/** The AMD extensions of a VCEK or VLEK (§2.2). Absent extensions are null. */
export interface VekExtensions {
  structVersion: number | null;
  productName: string | null;
  bootloader: number | null;
  tee: number | null;
  snp: number | null;
  microcode: number | null;
  fmc: number | null;
  /** VCEK only: the chip id (64 bytes, 8 on Turin). */
  hwId: Uint8Array | null;
  /** VLEK only: the cloud provider the key was issued to. */
  cspId: string | null;
}

function smallInt(der: Uint8Array, what: string): number {
  const v = decodeDerInteger(der);
  if (v < 0n || v > 0xffffffffn) throw new CocoError('SNP_VEK_EXTENSION', `${what} = ${v} is out of range`, { kind: 'input' });
  return Number(v);
}

/**
 * hwID is the raw chip id inside extnValue, without an OCTET STRING tag (go-sev-guest `asn1OctetString`);
 * Trustee's `get_oid_octets` also accepts a DER OCTET STRING in case KDS starts wrapping it (§6).
 */
function hwIdBytes(value: Uint8Array): Uint8Array {
  if (value.length === 64 || value.length === 8) return value;
  if (value[0] === 0x04) {
    const node = readDer(value);
    if (node.end === value.length && (node.value.length === 64 || node.value.length === 8)) return node.value;
  }
  throw new CocoError('SNP_VEK_EXTENSION', `hwID extension has ${value.length} bytes, expected 64 or 8 (raw or OCTET STRING)`, { kind: 'input' });
}

/** Reads the AMD extensions of a VCEK/VLEK certificate (DER). */
export function vekExtensions(der: Uint8Array): VekExtensions {
  const out: VekExtensions = {
    structVersion: null,
    productName: null,
    bootloader: null,
    tee: null,
    snp: null,
    microcode: null,
    fmc: null,
    hwId: null,
    cspId: null,
  };
  for (const ext of parseCertificate(der).extensions) {
    if (!ext.oid.startsWith(`${AMD_OID}.`)) continue;
    const key = ext.oid.slice(AMD_OID.length + 1);
    switch (key) {
      case '1':
        out.structVersion = smallInt(ext.value, 'structVersion');
        break;
      case '2':
        out.productName = decodeDerString(ext.value);
        break;
      case '3.1':
        out.bootloader = smallInt(ext.value, 'blSPL');
        break;
      case '3.2':
        out.tee = smallInt(ext.value, 'teeSPL');
        break;
      case '3.3':
        out.snp = smallInt(ext.value, 'snpSPL');
        break;
      case '3.8':
        out.microcode = smallInt(ext.value, 'ucodeSPL');
        break;
      case '3.9':
        out.fmc = smallInt(ext.value, 'fmcSPL');
        break;
      case '4':
        out.hwId = new Uint8Array(hwIdBytes(ext.value));
        break;
      case '5':
        out.cspId = decodeDerString(ext.value);
        break;
      default: // spl4..spl7 and future fields carry no binding
    }
  }
  return out;
}

/** The CN of an X.509 subject/issuer string as Node prints it (`CN=SEV-Milan` lines). */
export function commonName(dn: string): string | null {
  const m = dn.split('\n').find((l) => l.startsWith('CN='));
  return m ? m.slice(3) : null;
}

export type AmdCertRole = 'ark' | 'ask' | 'asvk' | 'vcek' | 'vlek';

const roles = new WeakMap<X509Certificate, { role: AmdCertRole; product: SnpProduct | null } | null>();

/**
 * Role and product of an AMD certificate from its subject CN (`ARK-Milan`, `SEV-Milan`, `SEV-VLEK-Milan`,
 * `SEV-VCEK`). Memoized per certificate object: a certificate's names never change, and the verifier asks
 * for the roles of the same cached certificates on every report.
 */
export function certRole(cert: X509Certificate): { role: AmdCertRole; product: SnpProduct | null } | null {
  let r = roles.get(cert);
  if (r === undefined) roles.set(cert, (r = roleOf(cert)));
  return r;
}

function roleOf(cert: X509Certificate): { role: AmdCertRole; product: SnpProduct | null } | null {
  const cn = commonName(cert.subject) ?? '';
  const prod = (name: string): SnpProduct | null => PRODUCTS.find((p) => kdsProductName(p) === name) ?? null;
  if (cn === 'SEV-VCEK') return { role: 'vcek', product: productFromIssuer(cert) };
  if (cn === 'SEV-VLEK') return { role: 'vlek', product: productFromIssuer(cert) };
  if (cn.startsWith('ARK-')) return { role: 'ark', product: prod(cn.slice(4)) };
  if (cn.startsWith('SEV-VLEK-')) return { role: 'asvk', product: prod(cn.slice(9)) };
  if (cn.startsWith('SEV-')) return { role: 'ask', product: prod(cn.slice(4)) };
  return null;
}

const issuerProducts = new WeakMap<X509Certificate, SnpProduct | null>();

/** Product named by a VEK's issuer CN (`SEV-Milan` / `SEV-VLEK-Milan`); memoized per certificate object. */
export function productFromIssuer(cert: X509Certificate): SnpProduct | null {
  let p = issuerProducts.get(cert);
  if (p === undefined) issuerProducts.set(cert, (p = issuerProduct(cert)));
  return p;
}

function issuerProduct(cert: X509Certificate): SnpProduct | null {
  const cn = commonName(cert.issuer) ?? '';
  const name = cn.startsWith('SEV-VLEK-') ? cn.slice(9) : cn.startsWith('SEV-') ? cn.slice(4) : '';
  return PRODUCTS.find((p) => kdsProductName(p) === name) ?? null;
}

/** Product named by a productName extension (`Milan-B0`, `Genoa`, `Turin`). */
export function productFromName(name: string | null): SnpProduct | null {
  if (!name) return null;
  const base = name.split('-')[0];
  return PRODUCTS.find((p) => kdsProductName(p) === base) ?? null;
}

// ───────────────────────────── roots ─────────────────────────────

export interface AmdRoot {
  ark: X509Certificate;
  ask: X509Certificate;
  asvk: X509Certificate | null;
}

/** A set of trust anchors per product. The shipped AMD roots are the only default. */
export type RootSet = Partial<Record<SnpProduct, AmdRoot>> & { readonly label?: string };

/** SHA-256 of the genuine ARK DER (specs/snp.md §2.1, shared/vectors/snp/certs/PROVENANCE.md). */
export const ARK_SHA256: Readonly<Record<SnpProduct, string>> = {
  milan: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
  genoa: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
  turin: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
};

const derHashes = new WeakMap<X509Certificate, string>();

/** SHA-256 of a certificate's DER (memoized per certificate object: chain caching hashes on every report). */
export function sha256Der(cert: X509Certificate): string {
  let h = derHashes.get(cert);
  if (h === undefined) {
    h = createHash('sha256').update(cert.raw).digest('hex');
    derHashes.set(cert, h);
  }
  return h;
}

/** `assets/amd/` — the same relative path from `src/tee/snp/` and from `dist/tee/snp/`. */
export const ASSETS_DIR = fileURLToPath(new URL('../../../assets/amd/', import.meta.url));

let shipped: RootSet | undefined;

/** The genuine AMD ARK/ASK/ASVK for Milan, Genoa and Turin shipped in the package, ARKs pinned by hash. */
export function amdRoots(): RootSet {
  if (shipped) return shipped;
  const set: Record<string, AmdRoot> = {};
  for (const p of PRODUCTS) {
    const load = (k: string): X509Certificate => new X509Certificate(readFileSync(join(ASSETS_DIR, `${k}_${p}.pem`)));
    const root: AmdRoot = { ark: load('ark'), ask: load('ask'), asvk: load('asvk') };
    if (sha256Der(root.ark) !== ARK_SHA256[p]) {
      throw new CocoError('SNP_ROOTS', `shipped ARK-${kdsProductName(p)} does not match its pinned SHA-256`, { kind: 'internal' });
    }
    set[p] = root;
  }
  shipped = Object.assign(set, { label: 'AMD' }) as RootSet;
  return shipped;
}

/**
 * A custom root set for one product from a PEM bundle holding its ARK, ASK and optionally ASVK (any order,
 * roles read from the CNs) — e.g. a test root written to disk. Used only when a caller passes it explicitly.
 */
export function rootsFromPem(product: SnpProduct, pem: string, label = 'custom'): RootSet {
  const certs = loadPemBundle(pem, `${label} roots`);
  const find = (role: AmdCertRole): X509Certificate | undefined => certs.find((c) => certRole(c)?.role === role);
  const ark = find('ark');
  const ask = find('ask');
  if (!ark || !ask) throw new CocoError('SNP_ROOTS', `${label} roots for ${kdsProductName(product)} need an ARK and an ASK`, { kind: 'input' });
  // A bundle for another product, or an ASK its ARK did not sign, can never verify a report: refuse it when
  // it is configured rather than at the first attestation.
  const arkProduct = certRole(ark)?.product;
  if (arkProduct !== product) {
    throw new CocoError('SNP_ROOTS', `${label} roots: the ARK is ${commonName(ark.subject)}, not ARK-${kdsProductName(product)}`, { kind: 'input' });
  }
  const signs = (child: X509Certificate, parent: X509Certificate): boolean => {
    try {
      return child.checkIssued(parent) && child.verify(parent.publicKey);
    } catch {
      return false;
    }
  };
  if (!signs(ark, ark)) throw new CocoError('SNP_ROOTS', `${label} roots: ${commonName(ark.subject)} is not self-signed`, { kind: 'input' });
  if (!signs(ask, ark)) throw new CocoError('SNP_ROOTS', `${label} roots: ${commonName(ask.subject)} is not signed by ${commonName(ark.subject)}`, { kind: 'input' });
  return Object.assign({ [product]: { ark, ask, asvk: find('asvk') ?? null } }, { label }) as RootSet;
}

// ───────────────────────────── KDS and offline cache ─────────────────────────────

export const KDS_URL = 'https://kdsintf.amd.com';

/** KDS hwid: hex CHIP_ID, only the first 8 bytes on Turin (§2.4). */
export function kdsHwId(product: SnpProduct, chipId: Uint8Array): string {
  return toHex(product === 'turin' ? chipId.subarray(0, 8) : chipId);
}

const two = (n: number): string => String(n).padStart(2, '0');

/** VCEK download URL with two-digit SPLs as Trustee and snpguest send them (§2.4). */
export function vcekUrl(product: SnpProduct, chipId: Uint8Array, tcb: TcbVersion, base = KDS_URL): string {
  if (isAllZero(chipId)) {
    throw new CocoError('SNP_CHIP_ID_MASKED', 'CHIP_ID is all zero (MASK_CHIP_ID): the VCEK cannot be looked up', { kind: 'unavailable' });
  }
  const fmc = product === 'turin' ? `fmcSPL=${two(tcb.fmc ?? 0)}&` : '';
  return `${base.replace(/\/+$/, '')}/vcek/v1/${kdsProductName(product)}/${kdsHwId(product, chipId)}?${fmc}blSPL=${two(tcb.bootloader)}&teeSPL=${two(tcb.tee)}&snpSPL=${two(tcb.snp)}&ucodeSPL=${two(tcb.microcode)}`;
}

/** ASK+ARK (or ASVK+ARK) bundle URL. */
export function certChainUrl(product: SnpProduct, kind: 'vcek' | 'vlek' = 'vcek', base = KDS_URL): string {
  return `${base.replace(/\/+$/, '')}/${kind}/v1/${kdsProductName(product)}/cert_chain`;
}

/**
 * Offline cache paths Trustee reads, most specific first:
 * `<dir>/vcek/<hwid>/bl{BL}_tee{TEE}_snp{SNP}_ucode{UCODE}[_fmc{FMC}]_vcek.der`, then `<dir>/vcek/<hwid>/vcek.der`.
 */
export function vcekCachePaths(dir: string, product: SnpProduct, chipId: Uint8Array, tcb: TcbVersion): string[] {
  const hw = kdsHwId(product, chipId);
  const fmc = product === 'turin' ? `_fmc${two(tcb.fmc ?? 0)}` : '';
  const name = `bl${two(tcb.bootloader)}_tee${two(tcb.tee)}_snp${two(tcb.snp)}_ucode${two(tcb.microcode)}${fmc}_vcek.der`;
  return [join(dir, 'vcek', hw, name), join(dir, 'vcek', hw, 'vcek.der')];
}

/** Parses one certificate from DER or PEM bytes. */
export function loadCertificate(bytes: Uint8Array, what: string): X509Certificate {
  try {
    const cert = new X509Certificate(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    void cert.publicKey; // a damaged SubjectPublicKeyInfo throws here, not later in the middle of verification
    return cert;
  } catch (e) {
    throw new CocoError('SNP_CERT_PARSE', `${what} is not an X.509 certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

/** Splits a PEM bundle (KDS `cert_chain`, Trustee `*_ask_ark_asvk.pem`) into certificates. */
export function loadPemBundle(text: string, what: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new CocoError('SNP_CERT_PARSE', `${what} contains no PEM certificate`, { kind: 'input' });
  return blocks.map((b, i) => loadCertificate(new Uint8Array(Buffer.from(b)), `${what} certificate ${i + 1}`));
}
