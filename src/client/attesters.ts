/**
 * Attester selection for the guest client: `sample` (development, no hardware) or `snp` (configfs-tsm or
 * /dev/sev-guest). `auto` picks the hardware attester that is present and never falls back to `sample`.
 */
import { CocoError } from '../errors.js';
import type { Attester } from '../tee/verifier.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { SnpAttester } from '../tee/snp/attester.js';

export const ATTESTER_NAMES = ['sample', 'snp', 'auto'] as const;

export function attesterFor(tee: string): Attester {
  switch (tee) {
    case 'sample':
      return new SampleAttester();
    case 'snp':
    case 'auto': {
      const snp = new SnpAttester();
      if (snp.available()) return snp;
      throw new CocoError('KBS_CLIENT_NO_TEE', tee === 'snp' ? 'no SEV-SNP guest interface here (configfs-tsm report or /dev/sev-guest)' : 'no TEE attester is available on this machine (use --tee sample for development)', { kind: 'unavailable' });
    }
    default:
      throw new CocoError('KBS_CLIENT_TEE', `no attester for tee "${tee}" (available: ${ATTESTER_NAMES.join(', ')})`, { kind: 'unsupported' });
  }
}
