/**
 * Filling the offline TDX collateral cache from Intel PCS (or a PCCS serving the same paths): the one place
 * cocokit talks to Intel, run on request (`cocokit tdx fetch-collateral`), never during verification
 * (Intel's PCS v4 API for endpoints and issuer-chain headers).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CocoError } from '../../errors.js';
import { fromHex, toHex } from '../../formats/bytes.js';
import { collateralCachePath, collateralFromPcs, serializeCollateralBundle, type TdxCollateral } from './collateral.js';
import type { TdxQuote } from './format.js';
import { quotePlatform } from './verifier.js';

export const PCS_URL = 'https://api.trustedservices.intel.com';
/** The CRL distribution point of the Intel SGX Root CA certificate (certs/PROVENANCE.md). */
export const ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

export interface FetchCollateralOptions {
  cacheDir: string;
  pcsUrl?: string;
  rootCrlUrl?: string;
  /** `standard` or `early` TCB evaluation (PCS `update=`); PCS's default when absent. */
  update?: 'standard' | 'early';
  timeoutMs?: number;
}

/** Every response is small; a larger one is refused rather than buffered. */
const MAX_RESPONSE = 1024 * 1024;

async function get(url: string, o: FetchCollateralOptions): Promise<{ body: Uint8Array; headers: Headers }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  } catch (e) {
    throw new CocoError('TDX_PCS_UNREACHABLE', `PCS request ${url} failed: ${(e as Error).message}`, { kind: 'unavailable', cause: e });
  }
  if (!res.ok) throw new CocoError('TDX_PCS_STATUS', `PCS answered ${res.status} for ${url}`, { kind: 'unavailable' });
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_RESPONSE) throw new CocoError('TDX_PCS_RESPONSE', `PCS response from ${url} exceeds ${MAX_RESPONSE} bytes`, { kind: 'limit' });
  return { body, headers: res.headers };
}

/** Issuer chains travel URL-encoded in a response header (PCS v4). */
function issuerChain(headers: Headers, name: string, url: string): string {
  const v = headers.get(name);
  if (!v) throw new CocoError('TDX_PCS_RESPONSE', `PCS response from ${url} has no ${name} header`, { kind: 'unavailable' });
  try {
    return decodeURIComponent(v);
  } catch (e) {
    throw new CocoError('TDX_PCS_RESPONSE', `${name} header from ${url} is not URL-encoded PEM`, { kind: 'input', cause: e });
  }
}

/** A CRL body: DER, or the hex text some PCCS versions serve. */
function crlBytes(body: Uint8Array): Uint8Array {
  if (body[0] === 0x30) return body;
  const text = Buffer.from(body).toString('latin1').trim();
  return fromHex(text, 'CRL response');
}

/** Downloads the collateral for the quote's platform; returns it without writing anything. */
export async function fetchCollateral(quote: TdxQuote, o: FetchCollateralOptions): Promise<{ collateral: TdxCollateral; fmspc: Uint8Array; ca: 'platform' | 'processor' }> {
  const base = (o.pcsUrl ?? PCS_URL).replace(/\/+$/, '');
  const { fmspc, ca } = quotePlatform(quote);
  const update = o.update ? `&update=${o.update}` : '';
  const tcbUrl = `${base}/tdx/certification/v4/tcb?fmspc=${toHex(fmspc)}${update}`;
  const qeUrl = `${base}/tdx/certification/v4/qe/identity${o.update ? `?update=${o.update}` : ''}`;
  const crlUrl = `${base}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
  const [tcb, qe, pck, root] = await Promise.all([get(tcbUrl, o), get(qeUrl, o), get(crlUrl, o), get(o.rootCrlUrl ?? ROOT_CA_CRL_URL, o)]);
  const collateral = collateralFromPcs({
    tcbInfoBody: Buffer.from(tcb.body).toString('utf8'),
    tcbInfoIssuerChain: issuerChain(tcb.headers, 'TCB-Info-Issuer-Chain', tcbUrl),
    qeIdentityBody: Buffer.from(qe.body).toString('utf8'),
    qeIdentityIssuerChain: issuerChain(qe.headers, 'SGX-Enclave-Identity-Issuer-Chain', qeUrl),
    pckCrl: crlBytes(pck.body),
    pckCrlIssuerChain: issuerChain(pck.headers, 'SGX-PCK-CRL-Issuer-Chain', crlUrl),
    rootCaCrl: crlBytes(root.body),
  });
  // A cache entry keyed by this FMSPC must describe this FMSPC, or it would poison later verifications.
  if (toHex(collateral.tcbInfo.value.fmspc) !== toHex(fmspc)) {
    throw new CocoError('TDX_PCS_MISMATCH', `PCS returned TCB Info for FMSPC ${toHex(collateral.tcbInfo.value.fmspc)}, asked for ${toHex(fmspc)}`, { kind: 'crypto' });
  }
  return { collateral, fmspc, ca };
}

/** Downloads the quote's collateral and writes it to the cache; returns the path written. */
export async function fetchCollateralToCache(quote: TdxQuote, o: FetchCollateralOptions): Promise<string> {
  const { collateral, fmspc, ca } = await fetchCollateral(quote, o);
  const path = collateralCachePath(o.cacheDir, fmspc, ca);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeCollateralBundle(collateral));
  return path;
}
