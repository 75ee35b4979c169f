/**
 * Registering a buildah confidential-workload image with a reference-kbs style KBS, exactly as buildah
 * `mkcw` does (specs/keybroker.md §3.6): `POST <attestation_url>/kbs/v0/register_workload`.
 */
import { posix } from 'node:path';
import { CocoError } from '../errors.js';
import { request } from './http.js';

/** buildah `internal/mkcw/types/attest.go`: the SEV-policy "bits" it sends as tee_config (§3.6). */
export const TEE_CONFIG_BITS: Record<'snp' | 'sev' | 'sev_no_es', number> = { snp: 15, sev: 63, sev_no_es: 59 };

export type BuildahTeeType = keyof typeof TEE_CONFIG_BITS;

/** The body buildah `SendRegistrationRequest` posts: compact JSON in its RegistrationRequest field order. */
export function buildahRegistrationBody(workloadId: string, measurement: string, passphrase: string, type: BuildahTeeType): string {
  return JSON.stringify({
    workload_id: workloadId,
    launch_measurement: measurement,
    passphrase,
    tee_config: JSON.stringify({ flags: { bits: TEE_CONFIG_BITS[type] }, minfw: { major: 0, minor: 0 } }),
  });
}

export interface KrunRegistration {
  /** The KBS base URL (the footer's attestation_url, or one given). */
  baseUrl: string;
  workloadId: string;
  /** Launch measurement, hex (96 characters for SNP, 64 for SEV). */
  measurement: string;
  passphrase: string;
  type: BuildahTeeType;
  /** Admin Bearer token, for a KBS that does not take unauthenticated registrations. */
  authToken?: string;
}

/**
 * Posts the registration and returns the URL it went to.
 * @throws CocoError KRUN_REGISTER with the KBS's answer when it is neither 200 nor 202 (what buildah accepts)
 */
export async function registerKrunWorkload(r: KrunRegistration): Promise<string> {
  // Go path.Join on the URL path: a base path is kept and duplicate slashes collapse.
  const u = new URL(r.baseUrl);
  u.pathname = posix.join(u.pathname, 'kbs/v0/register_workload');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (r.authToken) headers.authorization = `Bearer ${r.authToken}`;
  const res = await request(u.toString(), { method: 'POST', headers, body: buildahRegistrationBody(r.workloadId, r.measurement, r.passphrase, r.type) });
  if (res.status === 404 || res.status === 405) {
    // A KBS without buildah's registration route: a cocokit KBS serves it only in the reference-kbs
    // dialect, which is off unless its config enables it.
    throw new CocoError(
      'KRUN_REGISTER_NO_ROUTE',
      `${u} has no buildah registration endpoint (HTTP ${res.status}). A cocokit KBS serves it with [workloads.reference_kbs] enabled = true ` +
        `in its config, under its prefix (default /reference-kbs: pass --url <kbs>/reference-kbs); without unauthenticated_registration = true ` +
        'registration also needs --auth-token',
      { kind: 'notfound' },
    );
  }
  if (res.status !== 200 && res.status !== 202) {
    throw new CocoError('KRUN_REGISTER', `registration at ${u} failed (HTTP ${res.status}): ${new TextDecoder().decode(res.body.subarray(0, 500))}`, {
      kind: res.status >= 500 ? 'server' : res.status === 401 || res.status === 403 ? 'auth' : res.status === 409 ? 'conflict' : 'input',
    });
  }
  return u.toString();
}
