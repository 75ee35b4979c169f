/**
 * Filling the offline VCEK cache from AMD's Key Distribution Service: the one place cocokit talks to AMD, run
 * on request (`cocokit snp fetch-vcek`), never during verification.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CocoError, networkCause } from '../../errors.js';
import { toHex } from '../../formats/bytes.js';
import { KDS_URL, loadCertificate, vcekCachePaths, vcekUrl, vekExtensions } from './certs.js';
import { decodeKeyInfo, reportProduct, type SnpProduct, type SnpReport } from './format.js';

export interface FetchVcekOptions {
  /** Offline cache directory in Trustee's layout. */
  cacheDir: string;
  /** Product of a version-2 report (which does not name its CPU). */
  product?: SnpProduct;
  kdsUrl?: string;
  timeoutMs?: number;
}

/**
 * Downloads the VCEK for the report's chip and reported TCB and stores it in the cache; returns its path.
 * @throws CocoError SNP_FETCH / CLI_USAGE (usage), SNP_KDS_UNREACHABLE / SNP_KDS_STATUS (unavailable),
 *   SNP_KDS_MISMATCH (crypto) when KDS answers a certificate of another chip or TCB
 */
export async function fetchVcekToCache(report: SnpReport, o: FetchVcekOptions): Promise<string> {
  if (decodeKeyInfo(report.keyInfo).signingKey !== 'vcek') {
    throw new CocoError('SNP_FETCH', 'the report is not VCEK-signed; a VLEK comes from the cloud provider, not from KDS by chip', { kind: 'usage' });
  }
  const prod = reportProduct(report) ?? o.product;
  if (!prod) throw new CocoError('CLI_USAGE', 'version-2 report: pass --product', { kind: 'usage' });
  const url = vcekUrl(prod, report.chipId, report.reportedTcb, o.kdsUrl ?? KDS_URL);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 30_000) });
  } catch (e) {
    throw new CocoError('SNP_KDS_UNREACHABLE', `KDS request ${url} failed: ${networkCause((e as Error).cause ?? e)}`, { kind: 'unreachable', cause: e });
  }
  if (!res.ok) throw new CocoError('SNP_KDS_STATUS', `KDS answered ${res.status} for ${url}`, { kind: 'unavailable' });
  const der = new Uint8Array(await res.arrayBuffer());
  // What lands in the cache must be the VCEK for this chip and TCB, or the cache would poison later lookups.
  const cert = loadCertificate(der, `KDS response from ${url}`);
  const ext = vekExtensions(new Uint8Array(cert.raw));
  const t = report.reportedTcb;
  const tcbOk = ext.bootloader === t.bootloader && ext.tee === t.tee && ext.snp === t.snp && ext.microcode === t.microcode && (prod !== 'turin' || ext.fmc === t.fmc);
  const hwOk = ext.hwId !== null && toHex(ext.hwId) === toHex(report.chipId.subarray(0, ext.hwId.length));
  if (!tcbOk || !hwOk) {
    throw new CocoError('SNP_KDS_MISMATCH', `KDS returned a certificate for another ${hwOk ? 'TCB' : 'chip'} (${url})`, { kind: 'crypto' });
  }
  const [path] = vcekCachePaths(o.cacheDir, prod, report.chipId, t);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, new Uint8Array(cert.raw));
  return path;
}
