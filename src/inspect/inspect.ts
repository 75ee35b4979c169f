/**
 * `inspect(bytes)`: recognises an artifact and returns its annotated fields and checks (types.ts): SNP
 * attestation reports (raw, hex, CoCo JSON evidence, Azure HCL), TDX quotes (raw, hex, CoCo JSON evidence)
 * and EAR tokens. With reference values, each measurement field says which one it matched.
 */
import { CocoError } from '../errors.js';
import { inspectEarToken, looksLikeJwt } from './ear.js';
import { matchReferences } from './references.js';
import { inspectSnpReport } from './snp.js';
import { inspectTdxQuote, isTdxEvidenceJson, looksLikeTdxQuote } from './tdx.js';
import type { Inspection, InspectOptions } from './types.js';

export type { InspectedField, Inspection, InspectOptions, ReferenceMatch } from './types.js';
export { parseReferenceValues } from './references.js';

/** Bytes the inspector reads at most (an SNP report with certificates is a few KiB; a token, less). */
export const INSPECT_MAX_BYTES = 4 * 1024 * 1024;

const KNOWN = 'SNP report (raw, hex, CoCo JSON or Azure HCL), TDX quote (raw, hex or CoCo JSON), EAR token';

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function hexPrefix(text: string): Uint8Array | undefined {
  const m = /^(?:0x)?([0-9a-fA-F]{16})/.exec(text);
  return m ? new Uint8Array(Buffer.from(m[1], 'hex')) : undefined;
}

function detect(bytes: Uint8Array, o: InspectOptions): Inspection {
  const head = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (looksLikeTdxQuote(bytes)) return inspectTdxQuote(bytes, o);
  const text = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 64))).toString('latin1').trim();
  if (head.startsWith('eyJ')) {
    const all = Buffer.from(bytes).toString('utf8').trim();
    if (looksLikeJwt(all)) return inspectEarToken(all);
  }
  if (text.startsWith('{')) {
    const v = jsonOf(Buffer.from(bytes).toString('utf8'));
    if (isTdxEvidenceJson(v)) return inspectTdxQuote(bytes, o);
  }
  const hx = hexPrefix(text);
  if (hx && looksLikeTdxQuote(hx)) return inspectTdxQuote(bytes, o);
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
