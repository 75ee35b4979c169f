/**
 * Guest side of the `sample` TEE, as guest-components' sample attester: svn "1" and the runtime-data digest
 * in standard base64 (no padding to a field size, specs/kbs-protocol.md §1.5).
 */
import { toBase64 } from '../../formats/bytes.js';
import type { Attester } from '../verifier.js';

export class SampleAttester implements Attester {
  readonly tee: string;
  readonly svn: string;

  /** `tee` is `sample` (default) or `sampledevice` (svn "2"). */
  constructor(tee: 'sample' | 'sampledevice' = 'sample') {
    this.tee = tee;
    this.svn = tee === 'sample' ? '1' : '2';
  }

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    return { svn: this.svn, report_data: toBase64(reportData) };
  }
}
