/**
 * The guest side of per-workload secrets, in the three dialects a cocokit KBS speaks (specs/keybroker.md):
 *
 * - native: the Trustee handshake (`KbsClient`), then `GET /kbs/v0/workload-resource/<name>`, a JWE to the
 *   TEE key; the workload is named by HOST_DATA, init-data, or — when its registration allows — the
 *   `workload_id` sent in `extra-params`;
 * - keybroker (§1.4): `/kbs/v0/auth` → nonce, a raw SNP report whose REPORT_DATA is
 *   SHA-512(nonce ‖ b64(n) ‖ b64(e)) of a fresh RSA key, then `GET /kbs/v0/resource/<name>` → RSA-PKCS#1 v1.5
 *   ciphertext as hex; the registration is named by HOST_DATA[0..16];
 * - krun / reference-kbs (§2.2–2.4): the same binding with `k-mod`/`k-exp`, the workload named by
 *   `extra-params.workload_id`, then `GET /kbs/v0/key/<workload_id>` → the passphrase.
 *
 * An operator can so test a registration end to end from a guest with cocokit alone.
 */
import { constants, createHash, generateKeyPair, privateDecrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { isRecord, parseJson } from '../formats/json.js';
import { reportProduct } from '../tee/snp/format.js';
import type { SnpAttestation } from '../tee/snp/attester.js';
import type { Attester } from '../tee/verifier.js';
import { httpError, request } from './http.js';
import { KbsClient, type KbsClientOptions } from './kbs-client.js';

export const WORKLOAD_GUEST_DIALECTS = ['native', 'keybroker', 'krun'] as const;
export type WorkloadGuestDialect = (typeof WORKLOAD_GUEST_DIALECTS)[number];

/** What the compat dialects need of the TEE: a raw SNP report over chosen REPORT_DATA. */
export interface RawSnpAttester {
  readonly tee: string;
  attest(reportData: Uint8Array): Promise<Pick<SnpAttestation, 'raw' | 'report'>>;
}

export interface WorkloadGuestOptions extends Pick<KbsClientOptions, 'ca' | 'timeoutMs' | 'initData' | 'teeKeyAlgorithm'> {
  /** The workload to name: `extra-params.workload_id` (native, krun); required for krun. */
  workloadId?: string;
}

/**
 * Native dialect: attests with `attester` and returns the decrypted secret `name` of the workload the
 * evidence identifies.
 */
export async function getNativeWorkloadResource(url: string, attester: Attester, name: string, opts: WorkloadGuestOptions = {}): Promise<Uint8Array> {
  const client = new KbsClient(url, attester, { ...opts, ...(opts.workloadId ? { extraParams: { workload_id: opts.workloadId } } : {}) });
  return client.getWorkloadResource(name, opts.workloadId);
}

/** A fresh RSA-2048 TEE key and its modulus and exponent as standard base64 (minimal big-endian bytes). */
async function rsaTeeKey(): Promise<{ privateKey: KeyObject; n: string; e: string }> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url').toString('base64');
  return { privateKey, n: b64(jwk.n), e: b64(jwk.e) };
}

/**
 * RSA-PKCS#1 v1.5 decryption (RFC 8017 §7.2.2) done on the raw RSA result: Node refuses PKCS#1 v1.5 private
 * decryption by default (Marvin attack). The risk is a server-side oracle; here the guest decrypts one answer
 * for itself and reports only "malformed".
 */
export function rsaPkcs1v15Decrypt(key: KeyObject, ciphertext: Uint8Array): Uint8Array {
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch (e) {
    throw new CocoError('KBS_CLIENT_DECRYPT', 'the KBS answer is not an RSA ciphertext for this key', { kind: 'crypto', cause: e });
  }
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw new CocoError('KBS_CLIENT_DECRYPT', 'the KBS answer does not decrypt to a PKCS#1 v1.5 message', { kind: 'crypto' });
  return new Uint8Array(em.subarray(sep + 1));
}

/** SHA-512(nonce ‖ n ‖ e) over the ASCII strings: both compat dialects' key binding (§1.4 step 4, §2.3). */
function bindingHash(nonce: string, n: string, e: string): Uint8Array {
  return new Uint8Array(createHash('sha512').update(nonce).update(n).update(e).digest());
}

/** The sev crate's `gen` names (§1.4 step 2); a report without CPUID fields is taken for Milan, as keybroker does. */
function generation(a: Pick<SnpAttestation, 'report'>): string {
  const p = reportProduct(a.report);
  return p === 'genoa' ? 'genoa' : 'milan';
}

function sessionCookie(setCookie: string | null, name: string): string {
  const v = new RegExp(`(?:^|[;,\\s])${name}=([^;,\\s]+)`).exec(setCookie ?? '')?.[1];
  if (!v) throw new CocoError('KBS_CLIENT_PROTOCOL', `auth response has no ${name} cookie`, { kind: 'input' });
  return `${name}=${v}`;
}

function nonceOf(body: Uint8Array): string {
  const c = parseJson(body, 'KBS challenge');
  if (!isRecord(c) || typeof c.nonce !== 'string' || c.nonce.length === 0 || c.nonce.length > 256) throw new CocoError('KBS_CLIENT_PROTOCOL', 'KBS challenge has no nonce', { kind: 'input' });
  return c.nonce;
}

function hexOf(text: string, what: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) throw new CocoError('KBS_CLIENT_PROTOCOL', `${what} is not hex`, { kind: 'input' });
  return fromHex(text.toLowerCase(), what);
}

async function post(url: string, body: unknown, opts: WorkloadGuestOptions, cookie?: string) {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
    timeoutMs: opts.timeoutMs,
    ca: opts.ca,
  });
}

/** keybroker dialect: the secret `name` of the registration the launch HOST_DATA names. `url` includes the mount prefix. */
export async function getKeybrokerResource(url: string, attester: RawSnpAttester, name: string, opts: WorkloadGuestOptions = {}): Promise<Uint8Array> {
  const base = url.replace(/\/+$/, '');
  // kbs-types 0.5.3: extra-params is a string; keybroker ignores it.
  const auth = await post(`${base}/kbs/v0/auth`, { version: '0.1.0', tee: 'snp', 'extra-params': '' }, opts);
  if (auth.status !== 200) throw httpError('keybroker auth', auth);
  const cookie = sessionCookie(auth.headers.get('set-cookie'), 'kbs-session-id');
  const nonce = nonceOf(auth.body);
  const key = await rsaTeeKey();
  const snp = await attester.attest(bindingHash(nonce, key.n, key.e));
  const evidence = JSON.stringify({ report: toHex(snp.raw), gen: generation(snp) });
  const at = await post(`${base}/kbs/v0/attest`, { 'tee-pubkey': { kty: 'RSA', alg: 'RSA1_5', n: key.n, e: key.e }, 'tee-evidence': evidence }, opts, cookie);
  if (at.status !== 200) throw httpError('keybroker attest', at);
  const res = await request(`${base}/kbs/v0/resource/${encodeURIComponent(name)}`, { method: 'GET', headers: { cookie }, timeoutMs: opts.timeoutMs, ca: opts.ca });
  if (res.status !== 200) throw httpError(`keybroker resource ${name}`, res);
  const out = parseJson(res.body, 'keybroker resource response');
  if (!isRecord(out) || typeof out.ciphertext !== 'string') throw new CocoError('KBS_CLIENT_PROTOCOL', 'keybroker resource response has no ciphertext', { kind: 'input' });
  return rsaPkcs1v15Decrypt(key.privateKey, hexOf(out.ciphertext, 'ciphertext'));
}

/** krun / reference-kbs dialect: the passphrase of workload `opts.workloadId`. `url` includes the mount prefix. */
export async function getKrunPassphrase(url: string, attester: RawSnpAttester, opts: WorkloadGuestOptions): Promise<Uint8Array> {
  const id = opts.workloadId;
  if (!id) throw new CocoError('KBS_CLIENT_USAGE', 'the krun dialect names its workload: a workload id is required', { kind: 'usage' });
  const base = url.replace(/\/+$/, '');
  // kbs-types 0.2.0 SnpRequest: extra-params is the JSON text of {"workload_id"} (§2.2).
  const auth = await post(`${base}/kbs/v0/auth`, { version: '0.0.0', tee: 'snp', 'extra-params': JSON.stringify({ workload_id: id }) }, opts);
  if (auth.status !== 200) throw httpError('reference-kbs auth', auth);
  const cookie = sessionCookie(auth.headers.get('set-cookie'), 'session_id');
  const nonce = nonceOf(auth.body);
  const key = await rsaTeeKey();
  const snp = await attester.attest(bindingHash(nonce, key.n, key.e));
  const evidence = JSON.stringify({ gen: generation(snp), report: toHex(snp.raw), cert_chain: '[]' });
  const at = await post(`${base}/kbs/v0/attest`, { 'tee-pubkey': { alg: 'RSA', 'k-mod': key.n, 'k-exp': key.e }, 'tee-evidence': evidence }, opts, cookie);
  // krun judges success by an empty body alone (§2.3).
  if (at.status !== 200 || at.body.length !== 0) throw httpError('reference-kbs attest', at);
  const res = await request(`${base}/kbs/v0/key/${encodeURIComponent(id)}`, { method: 'GET', headers: { cookie }, timeoutMs: opts.timeoutMs, ca: opts.ca });
  if (res.status !== 200) throw httpError(`reference-kbs key ${id}`, res);
  const hex = parseJson(res.body, 'reference-kbs key response');
  if (typeof hex !== 'string') throw new CocoError('KBS_CLIENT_PROTOCOL', 'reference-kbs key response is not a JSON string', { kind: 'input' });
  return rsaPkcs1v15Decrypt(key.privateKey, hexOf(hex, 'key'));
}
