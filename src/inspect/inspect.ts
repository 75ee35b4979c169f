/**
 * `inspect(bytes)`: recognises an artifact and returns its annotated fields and checks (types.ts). Formats
 * so far: SNP attestation reports (raw, hex, CoCo JSON evidence, Azure HCL) and EAR tokens.
 */
import { CocoError } from '../errors.js';
import { inspectEarToken, looksLikeJwt } from './ear.js';
import { inspectSnpReport } from './snp.js';
import type { Inspection, InspectOptions } from './types.js';

export type { InspectedField, Inspection, InspectOptions } from './types.js';

/** Bytes the inspector reads at most (an SNP report with certificates is a few KiB; a token, less). */
export const INSPECT_MAX_BYTES = 4 * 1024 * 1024;

export function inspect(bytes: Uint8Array, o: InspectOptions = {}): Inspection {
  if (bytes.length > INSPECT_MAX_BYTES) throw new CocoError('INSPECT_SIZE', `artifact is ${bytes.length} bytes, more than the ${INSPECT_MAX_BYTES} the inspector reads`, { kind: 'limit' });
  const head = Buffer.from(bytes.subarray(0, 8)).toString('latin1');
  if (head.startsWith('eyJ')) {
    const text = Buffer.from(bytes).toString('utf8').trim();
    if (looksLikeJwt(text)) return inspectEarToken(text);
  }
  try {
    return inspectSnpReport(bytes, o);
  } catch (e) {
    if (e instanceof CocoError && e.code === 'SNP_REPORT_FORM') {
      throw new CocoError('INSPECT_FORMAT', `not an artifact the inspector knows (SNP report in raw, hex, CoCo JSON or Azure HCL form; EAR token); ${bytes.length} bytes`, { kind: 'input' });
    }
    throw e;
  }
}
