/**
 * The inspector's view of an EAR attestation token (the KBS's JWT, specs/kbs-protocol.md §3.3): header and
 * claims with their meanings, each submodule's status and trust vector. The signature is not checked here —
 * that needs the issuing KBS's key (`kbs get-resource` and the resource route verify it).
 */
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import type { InspectedField, Inspection } from './types.js';

const CLAIM_MEANING: Record<string, string> = {
  eat_profile: 'EAR profile the token follows',
  iat: 'issued at (seconds since the epoch)',
  exp: 'expires at (seconds since the epoch)',
  'ear.verifier-id': 'who appraised the evidence',
  submods: 'one appraisal per verified claim set (cpu0, gpu0, …)',
  'ear.status': 'worst tier of the trust vector: affirming, warning, contraindicated or none',
  'ear.trustworthiness-vector': 'per-claim tiers set by the attestation policy',
  'ear.appraisal-policy-id': 'attestation policy that appraised the evidence',
  'ear.veraison.annotated-evidence': 'the verified evidence claims the policy saw',
  'ear.veraison.key-attestation': 'the TEE public key the secrets are wrapped to',
  'ear.veraison.policy-claims': 'extensions the policy added',
};

const HEADER_MEANING: Record<string, string> = { alg: 'signature algorithm', typ: 'token type', jwk: 'public key of the issuing KBS', kid: 'key id' };

function part(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new CocoError('INSPECT_JWT', `the token's ${what} is not base64url JSON`, { kind: 'input' });
  }
  if (!isRecord(v)) throw new CocoError('INSPECT_JWT', `the token's ${what} is not a JSON object`, { kind: 'input' });
  return v;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function looksLikeJwt(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text);
}

export function inspectEarToken(text: string): Inspection {
  const t = text.trim();
  if (!looksLikeJwt(t)) throw new CocoError('INSPECT_JWT', 'not a compact JWS (three base64url parts)', { kind: 'input' });
  const [h, c] = t.split('.');
  const header = part(h, 'header');
  const claims = part(c, 'claims');
  const fields: InspectedField[] = [];
  for (const [k, v] of Object.entries(header)) fields.push({ name: `header.${k}`, value: show(v), meaning: HEADER_MEANING[k] ?? '' });
  for (const [k, v] of Object.entries(claims)) {
    if (k === 'submods' && isRecord(v)) {
      for (const [sub, s] of Object.entries(v)) {
        if (!isRecord(s)) continue;
        for (const [sk, sv] of Object.entries(s)) {
          const tv = sk === 'ear.trustworthiness-vector' && isRecord(sv) ? Object.fromEntries(Object.entries(sv).filter((e): e is [string, number] => typeof e[1] === 'number')) : undefined;
          fields.push({ name: `submods.${sub}.${sk}`, value: show(sv), meaning: CLAIM_MEANING[sk] ?? '', ...(tv ? { flags: tv } : {}) });
        }
      }
      continue;
    }
    const time = (k === 'iat' || k === 'exp') && typeof v === 'number' ? ` (${new Date(v * 1000).toISOString()})` : '';
    fields.push({ name: k, value: show(v) + time, meaning: CLAIM_MEANING[k] ?? '' });
  }
  const statuses = isRecord(claims.submods) ? Object.entries(claims.submods).map(([n, s]) => `${n}: ${isRecord(s) ? show(s['ear.status']) : '?'}`) : [];
  return {
    format: 'ear-token',
    form: 'jwt',
    title: `EAR attestation token${statuses.length ? ` (${statuses.join(', ')})` : ''}`,
    fields,
    checks: [],
    notes: ['signature not checked: that needs the key of the KBS that issued the token'],
  };
}
