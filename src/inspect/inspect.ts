/**
 * `inspect(bytes)`: recognises an artifact and returns its annotated fields and checks (types.ts): SNP
 * attestation reports (raw, hex, CoCo JSON evidence, Azure HCL), TDX quotes (raw, hex, CoCo JSON evidence),
 * TPM quotes (TPMS_ATTEST, TPM2B_ATTEST, TPM evidence JSON), TCG and CCEL event logs, EAR tokens, init-data
 * (TOML, JSON, Kata annotation, block image), Kata agent policies, dm-verity hash devices and UKIs. With
 * reference values, each measurement field says which one it matched.
 */
import { CocoError } from '../errors.js';
import { inspectEarToken, looksLikeJwt } from './ear.js';
import { inspectInitData, looksLikeInitData, looksLikeInitDataAnnotation, looksLikeInitDataImage } from './initdata.js';
import { inspectAgentPolicy, looksLikeAgentPolicy } from './policy.js';
import { matchReferences } from './references.js';
import { inspectSnpReport } from './snp.js';
import { inspectTdxQuote, isTdxEvidenceJson, looksLikeTdxQuote } from './tdx.js';
import { inspectEventLog, inspectTpmQuote, isTpmEvidenceJson, looksLikeEventLog, tpmAttestOffset } from './tpm.js';
import { inspectUki, looksLikePe } from './uki.js';
import { inspectVerity, looksLikeVerity } from './verity.js';
import type { Inspection, InspectOptions } from './types.js';

export type { InspectedField, Inspection, InspectOptions, ReferenceMatch } from './types.js';
export { parseReferenceValues } from './references.js';

/** Bytes the inspector reads at most (a UKI or a CCEL area is a few MiB; evidence, a few KiB). */
export const INSPECT_MAX_BYTES = 64 * 1024 * 1024;

const KNOWN =
  'SNP report (raw, hex, CoCo JSON, Azure HCL), TDX quote (raw, hex, CoCo JSON), TPM quote (TPMS_ATTEST, TPM2B_ATTEST, evidence JSON), ' +
  'TCG or CCEL event log, EAR token, init-data (TOML, JSON, Kata annotation, image), Kata agent policy, dm-verity hash device, UKI';

function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

function hexPrefix(text: string): Uint8Array | undefined {
  const m = /^(?:0x)?([0-9a-fA-F]{16})/.exec(text);
  return m ? new Uint8Array(Buffer.from(m[1], 'hex')) : undefined;
}

function detect(bytes: Uint8Array, o: InspectOptions): Inspection {
  // Binary forms, by their magic.
  if (looksLikeTdxQuote(bytes)) return inspectTdxQuote(bytes, o);
  if (tpmAttestOffset(bytes) !== undefined) return inspectTpmQuote(bytes, o);
  if (looksLikeEventLog(bytes)) return inspectEventLog(bytes);
  if (looksLikeVerity(bytes)) return inspectVerity(bytes);
  if (looksLikePe(bytes)) return inspectUki(bytes);
  if (looksLikeInitDataImage(bytes)) return inspectInitData(bytes);
  // Text forms.
  const start = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 64))).toString('latin1').trim();
  if (start.startsWith('eyJ')) {
    const all = Buffer.from(bytes).toString('utf8').trim();
    if (looksLikeJwt(all)) return inspectEarToken(all);
  }
  if (start.startsWith('{')) {
    const v = jsonOf(bytes);
    if (isTdxEvidenceJson(v)) return inspectTdxQuote(bytes, o);
    if (isTpmEvidenceJson(v)) return inspectTpmQuote(bytes, o);
    if (v !== null && typeof v === 'object' && 'algorithm' in v && 'data' in v) return inspectInitData(bytes);
  }
  const hx = hexPrefix(start);
  if (hx && looksLikeTdxQuote(hx)) return inspectTdxQuote(bytes, o);
  if (looksLikeInitDataAnnotation(start)) return inspectInitData(bytes);
  if (bytes.length < 1024 * 1024) {
    const text = Buffer.from(bytes).toString('utf8');
    if (looksLikeInitData(text)) return inspectInitData(bytes);
    if (looksLikeAgentPolicy(text)) return inspectAgentPolicy(bytes);
  }
  try {
    return inspectSnpReport(bytes, o);
  } catch (e) {
    if (e instanceof CocoError && e.code === 'SNP_REPORT_FORM') {
      throw new CocoError('INSPECT_FORMAT', `not an artifact the inspector knows (${KNOWN}); ${bytes.length} bytes`, { kind: 'input' });
    }
    throw e;
  }
}

export function inspect(bytes: Uint8Array, o: InspectOptions = {}): Inspection {
  if (bytes.length > INSPECT_MAX_BYTES) throw new CocoError('INSPECT_SIZE', `artifact is ${bytes.length} bytes, more than the ${INSPECT_MAX_BYTES} the inspector reads`, { kind: 'limit' });
  const r = detect(bytes, o);
  if (o.referenceValues) matchReferences(r.fields, o.referenceValues);
  return r;
}
