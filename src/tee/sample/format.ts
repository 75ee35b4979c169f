/**
 * Trustee's `sample` evidence (specs/kbs-protocol.md §3.2): `{"svn":"1","report_data":"<std base64>"}`.
 * Parsing only; no checks. The same shape serves `sampledevice` (class gpu, svn "2").
 */
import { CocoError } from '../../errors.js';
import { isRecord } from '../../formats/json.js';

export interface SampleEvidence {
  svn: string;
  /** Standard base64 of the runtime-data digest, exactly as the guest sent it. */
  report_data: string;
}

export function parseSampleEvidence(evidence: unknown, tee = 'sample'): SampleEvidence {
  if (!isRecord(evidence)) throw new CocoError('SAMPLE_EVIDENCE', `${tee} evidence must be a JSON object`, { kind: 'input' });
  const { svn, report_data } = evidence;
  if (typeof svn !== 'string') throw new CocoError('SAMPLE_EVIDENCE', `${tee} evidence: "svn" must be a string`, { kind: 'input' });
  if (typeof report_data !== 'string') {
    throw new CocoError('SAMPLE_EVIDENCE', `${tee} evidence: "report_data" must be a string`, { kind: 'input' });
  }
  return { svn, report_data };
}

export function serializeSampleEvidence(e: SampleEvidence): Record<string, string> {
  return { svn: e.svn, report_data: e.report_data };
}
