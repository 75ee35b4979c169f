/**
 * TDX verification collateral (specs/tdx-initdata.md §2.2): TDX TCB Info v3, TD QE Identity v2, the PCK CRL,
 * the Root CA CRL and the issuer chains that sign them. Read from dcap-qvl's `QuoteCollateralV3` JSON bundle
 * (the offline cache format, §2.5) or assembled from raw Intel PCS v4 responses. Parsing only: signatures
 * and dates are judged in verify.ts.
 *
 * The collateral signatures cover the exact bytes of the `tcbInfo` / `enclaveIdentity` JSON value as PCS sent
 * them, so the raw text is kept beside the parsed object (§2.2 "Signature over collateral JSON").
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CocoError } from '../../errors.js';
import { fromHex, toHex } from '../../formats/bytes.js';
import { isRecord, parseJson } from '../../formats/json.js';
import { pemChain } from './format.js';

/** TCB status values of TCB Info, module identity and QE identity levels (§2.2). */
export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];

export interface TdxTcbLevel {
  /** SGX TCB component SVNs 1..16. */
  sgxComponents: number[];
  pceSvn: number;
  /** TDX TCB component SVNs (TEE_TCB_SVN bytes 0..15). */
  tdxComponents: number[];
  tcbDate: string;
  tcbStatus: TcbStatus;
  advisoryIds: string[];
}

export interface IsvTcbLevel {
  isvSvn: number;
  tcbDate: string;
  tcbStatus: TcbStatus;
  advisoryIds: string[];
}

export interface TdxModule {
  mrSigner: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
}

export interface TdxModuleIdentity extends TdxModule {
  id: string;
  tcbLevels: IsvTcbLevel[];
}

export interface TcbInfo {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  fmspc: Uint8Array;
  pceId: Uint8Array;
  tcbType: number;
  tcbEvaluationDataNumber: number;
  tdxModule: TdxModule | null;
  tdxModuleIdentities: TdxModuleIdentity[];
  tcbLevels: TdxTcbLevel[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  miscSelect: number;
  miscSelectMask: number;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  tcbLevels: IsvTcbLevel[];
}

/** A signed collateral document: the exact signed JSON text, its parse, the signature and the signer chain. */
export interface Signed<T> {
  raw: string;
  value: T;
  /** ECDSA P-256 r‖s. */
  signature: Uint8Array;
  /** DER certificates: signing certificate first, then the root. */
  issuerChain: Uint8Array[];
}

export interface TdxCollateral {
  tcbInfo: Signed<TcbInfo>;
  qeIdentity: Signed<QeIdentity>;
  /** DER PCK CRL (Platform or Processor CA) and its issuer chain (PCK CA ‖ root). */
  pckCrl: Uint8Array;
  pckCrlIssuerChain: Uint8Array[];
  /** DER Intel SGX Root CA CRL. */
  rootCaCrl: Uint8Array;
}

/** Collateral bundles are small (a few KiB to tens of KiB); anything above this is refused before parsing. */
export const MAX_COLLATERAL_SIZE = 1024 * 1024;

function bad(message: string, detail?: unknown): never {
  throw new CocoError('TDX_COLLATERAL', `TDX collateral: ${message}`, { kind: 'input', detail });
}

function str(o: Record<string, unknown>, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') bad(`${what}.${k} must be a string`);
  return v;
}

function int(o: Record<string, unknown>, k: string, what: string, max = 0xffffffff): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${what}.${k} must be an integer 0..${max}`);
  return v;
}

function hexBytes(o: Record<string, unknown>, k: string, size: number, what: string): Uint8Array {
  const s = str(o, k, what);
  if (s.length !== size * 2 || !/^[0-9a-fA-F]*$/.test(s)) bad(`${what}.${k} must be ${size} bytes of hex`);
  return fromHex(s);
}

function date(o: Record<string, unknown>, k: string, what: string): Date {
  const s = str(o, k, what);
  const d = new Date(s);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || Number.isNaN(d.getTime())) bad(`${what}.${k} is not an RFC 3339 time`);
  return d;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) bad(`${what} must be an object`);
  return v;
}

function array(v: unknown, what: string, max = 1024): unknown[] {
  if (!Array.isArray(v)) bad(`${what} must be an array`);
  if (v.length > max) bad(`${what} has more than ${max} entries`);
  return v;
}

function status(o: Record<string, unknown>, what: string): TcbStatus {
  const s = str(o, 'tcbStatus', what);
  if (!(TCB_STATUSES as readonly string[]).includes(s)) bad(`${what}.tcbStatus ${JSON.stringify(s)} is not a known status`);
  return s as TcbStatus;
}

function advisories(o: Record<string, unknown>, what: string): string[] {
  if (o.advisoryIDs === undefined) return [];
  return array(o.advisoryIDs, `${what}.advisoryIDs`).map((a, i) => {
    if (typeof a !== 'string') bad(`${what}.advisoryIDs[${i}] must be a string`);
    return a;
  });
}

function components(v: unknown, what: string): number[] {
  const list = array(v, what);
  if (list.length !== 16) bad(`${what} must have 16 entries`);
  return list.map((c, i) => int(record(c, `${what}[${i}]`), 'svn', `${what}[${i}]`, 255));
}

function isvLevels(v: unknown, what: string): IsvTcbLevel[] {
  return array(v, what).map((l, i) => {
    const lv = record(l, `${what}[${i}]`);
    const tcb = record(lv.tcb, `${what}[${i}].tcb`);
    return {
      isvSvn: int(tcb, 'isvsvn', `${what}[${i}].tcb`, 0xffff),
      tcbDate: str(lv, 'tcbDate', `${what}[${i}]`),
      tcbStatus: status(lv, `${what}[${i}]`),
      advisoryIds: advisories(lv, `${what}[${i}]`),
    };
  });
}

function tdxModule(o: Record<string, unknown>, what: string): TdxModule {
  return {
    mrSigner: hexBytes(o, 'mrsigner', 48, what),
    attributes: hexBytes(o, 'attributes', 8, what),
    attributesMask: hexBytes(o, 'attributesMask', 8, what),
  };
}

/** Reads a TDX TCB Info object (the value of `tcbInfo`, §2.2). Version and id are judged by the verifier. */
export function parseTcbInfo(v: unknown): TcbInfo {
  const o = record(v, 'tcbInfo');
  const w = 'tcbInfo';
  return {
    id: str(o, 'id', w),
    version: int(o, 'version', w),
    issueDate: date(o, 'issueDate', w),
    nextUpdate: date(o, 'nextUpdate', w),
    fmspc: hexBytes(o, 'fmspc', 6, w),
    pceId: hexBytes(o, 'pceId', 2, w),
    tcbType: int(o, 'tcbType', w),
    tcbEvaluationDataNumber: int(o, 'tcbEvaluationDataNumber', w),
    tdxModule: o.tdxModule === undefined ? null : tdxModule(record(o.tdxModule, `${w}.tdxModule`), `${w}.tdxModule`),
    tdxModuleIdentities:
      o.tdxModuleIdentities === undefined
        ? []
        : array(o.tdxModuleIdentities, `${w}.tdxModuleIdentities`).map((m, i) => {
            const mo = record(m, `${w}.tdxModuleIdentities[${i}]`);
            const mw = `${w}.tdxModuleIdentities[${i}]`;
            return { id: str(mo, 'id', mw), ...tdxModule(mo, mw), tcbLevels: isvLevels(mo.tcbLevels, `${mw}.tcbLevels`) };
          }),
    tcbLevels: array(o.tcbLevels, `${w}.tcbLevels`).map((l, i) => {
      const lw = `${w}.tcbLevels[${i}]`;
      const lv = record(l, lw);
      const tcb = record(lv.tcb, `${lw}.tcb`);
      return {
        sgxComponents: components(tcb.sgxtcbcomponents, `${lw}.tcb.sgxtcbcomponents`),
        pceSvn: int(tcb, 'pcesvn', `${lw}.tcb`, 0xffff),
        // SGX TCB Info (id "SGX") has no TDX components; the verifier refuses it by id, so zeros suffice here.
        tdxComponents: tcb.tdxtcbcomponents === undefined ? new Array<number>(16).fill(0) : components(tcb.tdxtcbcomponents, `${lw}.tcb.tdxtcbcomponents`),
        tcbDate: str(lv, 'tcbDate', lw),
        tcbStatus: status(lv, lw),
        advisoryIds: advisories(lv, lw),
      };
    }),
  };
}

/** Reads a QE Identity object (the value of `enclaveIdentity`, §2.2). */
export function parseQeIdentity(v: unknown): QeIdentity {
  const o = record(v, 'enclaveIdentity');
  const w = 'enclaveIdentity';
  return {
    id: str(o, 'id', w),
    version: int(o, 'version', w),
    issueDate: date(o, 'issueDate', w),
    nextUpdate: date(o, 'nextUpdate', w),
    tcbEvaluationDataNumber: int(o, 'tcbEvaluationDataNumber', w),
    miscSelect: Number.parseInt(toHex(hexBytes(o, 'miscselect', 4, w)), 16),
    miscSelectMask: Number.parseInt(toHex(hexBytes(o, 'miscselectMask', 4, w)), 16),
    attributes: hexBytes(o, 'attributes', 16, w),
    attributesMask: hexBytes(o, 'attributesMask', 16, w),
    mrSigner: hexBytes(o, 'mrsigner', 32, w),
    isvProdId: int(o, 'isvprodid', w, 0xffff),
    tcbLevels: isvLevels(o.tcbLevels, `${w}.tcbLevels`),
  };
}

/**
 * The exact source text of the top-level member `key` of a JSON object text, found by scanning (strings are
 * skipped, braces and brackets matched) rather than by re-serialising, so the bytes Intel signed are kept.
 */
export function rawJsonMember(text: string, key: string): string {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const skipString = (): void => {
    if (text[i] !== '"') bad(`expected a string at ${i}`);
    for (i++; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') {
        i++;
        return;
      }
    }
    bad('unterminated string');
  };
  const skipValue = (): void => {
    ws();
    if (text[i] === '"') return skipString();
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      while (i < text.length) {
        const c = text[i];
        if (c === '"') {
          skipString();
          continue;
        }
        if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      bad('unbalanced braces');
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
  };
  ws();
  if (text[i] !== '{') bad('response body is not a JSON object');
  i++;
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const keyStart = i;
    skipString();
    const name = JSON.parse(text.slice(keyStart, i)) as string;
    ws();
    if (text[i] !== ':') bad(`expected ':' at ${i}`);
    i++;
    ws();
    const start = i;
    skipValue();
    if (name === key) return text.slice(start, i);
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') bad(`expected ',' or '}' at ${i}`);
  }
  bad(`no "${key}" member`);
}

function signature(hex: string, what: string): Uint8Array {
  if (!/^[0-9a-fA-F]{128}$/.test(hex)) bad(`${what} must be 64 bytes of hex (r‖s)`);
  return fromHex(hex);
}

function chain(pem: string, what: string): Uint8Array[] {
  return pemChain(new TextEncoder().encode(pem), what);
}

function der(hex: string, what: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex) || hex.length === 0) bad(`${what} must be hex of DER`);
  return fromHex(hex);
}

function signedDoc<T>(raw: string, parse: (v: unknown) => T, sig: string, issuer: string, what: string): Signed<T> {
  return { raw, value: parse(parseJson(raw, what)), signature: signature(sig, `${what} signature`), issuerChain: chain(issuer, `${what} issuer chain`) };
}

/**
 * Reads dcap-qvl's `QuoteCollateralV3` JSON (shared/vectors/tdx PROVENANCE: PEM chains, hex DER CRLs, the
 * signed JSON texts as strings and hex signatures).
 */
export function parseCollateralBundle(text: string | Uint8Array): TdxCollateral {
  const o = record(parseJson(text, 'TDX collateral bundle', MAX_COLLATERAL_SIZE), 'collateral bundle');
  const w = 'bundle';
  return {
    tcbInfo: signedDoc(str(o, 'tcb_info', w), parseTcbInfo, str(o, 'tcb_info_signature', w), str(o, 'tcb_info_issuer_chain', w), 'TCB info'),
    qeIdentity: signedDoc(str(o, 'qe_identity', w), parseQeIdentity, str(o, 'qe_identity_signature', w), str(o, 'qe_identity_issuer_chain', w), 'QE identity'),
    pckCrl: der(str(o, 'pck_crl', w), 'pck_crl'),
    pckCrlIssuerChain: chain(str(o, 'pck_crl_issuer_chain', w), 'PCK CRL issuer chain'),
    rootCaCrl: der(str(o, 'root_ca_crl', w), 'root_ca_crl'),
  };
}

/** Writes the `QuoteCollateralV3` JSON (the inverse of `parseCollateralBundle`). */
export function serializeCollateralBundle(c: TdxCollateral): string {
  const pem = (certs: Uint8Array[]): string =>
    certs.map((d) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`).join('');
  return `${JSON.stringify(
    {
      pck_crl_issuer_chain: pem(c.pckCrlIssuerChain),
      root_ca_crl: toHex(c.rootCaCrl),
      pck_crl: toHex(c.pckCrl),
      tcb_info_issuer_chain: pem(c.tcbInfo.issuerChain),
      tcb_info: c.tcbInfo.raw,
      tcb_info_signature: toHex(c.tcbInfo.signature),
      qe_identity_issuer_chain: pem(c.qeIdentity.issuerChain),
      qe_identity: c.qeIdentity.raw,
      qe_identity_signature: toHex(c.qeIdentity.signature),
    },
    null,
    1,
  )}\n`;
}

/** Raw Intel PCS v4 responses (§2.2): bodies as received and the issuer-chain headers URL-decoded to PEM. */
export interface PcsResponses {
  tcbInfoBody: string;
  tcbInfoIssuerChain: string;
  qeIdentityBody: string;
  qeIdentityIssuerChain: string;
  pckCrl: Uint8Array;
  pckCrlIssuerChain: string;
  rootCaCrl: Uint8Array;
}

/** Assembles collateral from PCS responses, slicing the signed JSON values out of the bodies verbatim. */
export function collateralFromPcs(r: PcsResponses): TdxCollateral {
  const doc = <T>(body: string, key: string, parse: (v: unknown) => T, issuer: string, what: string): Signed<T> => {
    if (body.length > MAX_COLLATERAL_SIZE) throw new CocoError('FORMAT_TOO_LARGE', `${what} response is too large`, { kind: 'limit' });
    const outer = record(parseJson(body, `${what} response`), `${what} response`);
    return signedDoc(rawJsonMember(body, key), parse, str(outer, 'signature', `${what} response`), issuer, what);
  };
  return {
    tcbInfo: doc(r.tcbInfoBody, 'tcbInfo', parseTcbInfo, r.tcbInfoIssuerChain, 'TCB info'),
    qeIdentity: doc(r.qeIdentityBody, 'enclaveIdentity', parseQeIdentity, r.qeIdentityIssuerChain, 'QE identity'),
    pckCrl: r.pckCrl,
    pckCrlIssuerChain: chain(r.pckCrlIssuerChain, 'PCK CRL issuer chain'),
    rootCaCrl: r.rootCaCrl,
  };
}

/**
 * Offline cache layout: `<dir>/tdx/<fmspc>-<ca>.collateral.json` (lowercase FMSPC hex; `ca` = `platform` or
 * `processor`, the PCK CA that issued the quote's leaf), one `QuoteCollateralV3` bundle each.
 * `cocokit tdx fetch-collateral` writes it; verification only reads it.
 */
export function collateralCachePath(dir: string, fmspc: Uint8Array, ca: 'platform' | 'processor'): string {
  return join(dir, 'tdx', `${toHex(fmspc)}-${ca}.collateral.json`);
}

/** Reads the cached bundle for a platform, or throws `TDX_COLLATERAL_UNAVAILABLE` (kind `unavailable`). */
export function loadCachedCollateral(dir: string, fmspc: Uint8Array, ca: 'platform' | 'processor'): TdxCollateral {
  const p = collateralCachePath(dir, fmspc, ca);
  if (!existsSync(p)) {
    throw new CocoError('TDX_COLLATERAL_UNAVAILABLE', `no TDX collateral for FMSPC ${toHex(fmspc)} (${ca} CA) in ${dir}; fill it with \`cocokit tdx fetch-collateral\``, {
      kind: 'unavailable',
      detail: { path: p },
    });
  }
  return parseCollateralBundle(readFileSync(p));
}

/**
 * A reader of the offline collateral cache for a server: files are read asynchronously (the event loop never
 * waits on the disk during an attestation) and parsed once per change — an entry is reused while the file's
 * mtime and size are unchanged, so `cocokit tdx fetch-collateral` can refresh the cache under a running KBS.
 */
export class CollateralCache {
  private readonly entries = new Map<string, { mtimeMs: number; size: number; collateral: TdxCollateral }>();
  /** Files read and parsed so far (for tests and metrics). */
  loads = 0;

  constructor(private readonly dir: string) {}

  async get(fmspc: Uint8Array, ca: 'platform' | 'processor'): Promise<TdxCollateral> {
    const p = collateralCachePath(this.dir, fmspc, ca);
    let st;
    try {
      st = await stat(p);
    } catch {
      this.entries.delete(p);
      throw new CocoError('TDX_COLLATERAL_UNAVAILABLE', `no TDX collateral for FMSPC ${toHex(fmspc)} (${ca} CA) in ${this.dir}; fill it with \`cocokit tdx fetch-collateral\``, {
        kind: 'unavailable',
        detail: { path: p },
      });
    }
    const hit = this.entries.get(p);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.collateral;
    const collateral = parseCollateralBundle(await readFile(p));
    this.loads++;
    this.entries.set(p, { mtimeMs: st.mtimeMs, size: st.size, collateral });
    return collateral;
  }
}
