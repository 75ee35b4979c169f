/**
 * Claims of the `sample` verifier, named and valued as Trustee's `deps/verifier/src/sample` emits them
 * (specs/kbs-protocol.md §3.2): the platform values are fixed so the default policy has something to check.
 */
import { toBase64 } from '../../formats/bytes.js';
import type { SampleEvidence } from './format.js';

export function sampleClaims(e: SampleEvidence, initDataHash?: Uint8Array): Record<string, unknown> {
  return {
    svn: e.svn,
    report_data: e.report_data,
    launch_digest: 'abcde',
    platform_version: { major: 1, minor: 4 },
    debug: false,
    ...(initDataHash ? { init_data: toBase64(initDataHash) } : {}),
  };
}

/** `sampledevice` emits only the evidence values (class gpu). */
export function sampleDeviceClaims(e: SampleEvidence): Record<string, unknown> {
  return { svn: e.svn, report_data: e.report_data };
}
