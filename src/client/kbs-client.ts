/**
 * The guest-side KBS protocol client (guest-components `kbs_protocol`, specs/kbs-protocol.md §1.11):
 * RCAR handshake `/auth` → runtime data → device and primary evidence → `/attest`, then `GET /resource/…`
 * with the session cookie, and JWE decryption with the TEE key made for this handshake.
 */
import { CocoError } from '../errors.js';
import { utf8 } from '../formats/bytes.js';
import { isRecord, parseJson } from '../formats/json.js';
import { decryptWithTeeKey, parseFlattenedJwe } from '../formats/jwe.js';
import { generateTeeKeyPair, type TeeKeyAlgorithm, type TeeKeyPair } from '../formats/jwk.js';
import { deviceRuntimeData, isHashAlgorithm, primaryRuntimeData, runtimeDataDigest, type HashAlgorithm } from '../formats/runtime-data.js';
import type { Attester } from '../tee/verifier.js';
import { httpError, request } from './http.js';

export const KBS_PROTOCOL_VERSION = '0.4.0';
const SUPPORTED_HASHES = ['sha256', 'sha384', 'sha512', 'sm3'];

export interface KbsClientOptions {
  teeKeyAlgorithm?: TeeKeyAlgorithm;
  /** Init-data TOML text, sent verbatim (its digest is over these exact bytes, §1.6). */
  initData?: string;
  /** Device attesters whose evidence goes into `additional_evidence`. */
  deviceAttesters?: Attester[];
  /** Attempts for a resource request answered with 401 (re-attesting in between); default 3 (§1.11). */
  maxAttempts?: number;
  timeoutMs?: number;
  /** PEM CA certificate for an https:// KBS (Trustee kbs-client `--cert-file`). */
  ca?: string;
  /** Members added to the `/auth` request's `extra-params` (e.g. `workload_id` for per-workload secrets). */
  extraParams?: Record<string, unknown>;
}

export interface AttestResult {
  token: string;
  cookie: string;
  teeKey: TeeKeyPair;
}

/** `repo/type/tag`, `/repo/type/tag` or `kbs:///repo/type/tag` → `repo/type/tag` (+ query). */
export function normalizeResourcePath(p: string): string {
  const s = p.startsWith('kbs:///') ? p.slice('kbs:///'.length) : p.replace(/^\/+/, '');
  const [path] = s.split('?');
  if (path.split('/').length !== 3 || path.split('/').some((x) => x === '')) {
    throw new CocoError('KBS_CLIENT_PATH', `resource path must be <repository>/<type>/<tag>, got ${JSON.stringify(p)}`, { kind: 'usage' });
  }
  return s;
}

export class KbsClient {
  readonly url: string;
  readonly attester: Attester;
  private readonly opts: KbsClientOptions;
  private session?: AttestResult;

  constructor(url: string, attester: Attester, opts: KbsClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.attester = attester;
    this.opts = opts;
  }

  /** The RCAR handshake; returns the attestation token and keeps the session for resource requests. */
  async attest(): Promise<AttestResult> {
    const t = this.opts.timeoutMs;
    const authRes = await request(`${this.url}/kbs/v0/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: KBS_PROTOCOL_VERSION, tee: this.attester.tee, 'extra-params': { ...this.opts.extraParams, 'supported-hash-algorithms': SUPPORTED_HASHES } }),
      timeoutMs: t,
      ca: this.opts.ca,
    });
    if (authRes.status !== 200) throw httpError('KBS auth', authRes);
    const cookie = /kbs-session-id=([^;,\s]+)/.exec(authRes.headers.get('set-cookie') ?? '')?.[1];
    if (!cookie) throw new CocoError('KBS_CLIENT_PROTOCOL', 'auth response has no kbs-session-id cookie', { kind: 'input' });
    const challenge = parseJson(authRes.body, 'KBS challenge');
    if (!isRecord(challenge) || typeof challenge.nonce !== 'string') throw new CocoError('KBS_CLIENT_PROTOCOL', 'KBS challenge has no string nonce', { kind: 'input' });
    const nonce = challenge.nonce;
    // A string (`""`) extra-params means "no selection": SHA-384 (§1.3, §7.1).
    const ep = challenge['extra-params'];
    const selected = isRecord(ep) && typeof ep['selected-hash-algorithm'] === 'string' ? ep['selected-hash-algorithm'].toLowerCase() : 'sha384';
    if (!isHashAlgorithm(selected)) throw new CocoError('KBS_CLIENT_PROTOCOL', `KBS selected an unknown hash algorithm ${selected}`, { kind: 'input' });
    const hash: HashAlgorithm = selected;

    const teeKey = generateTeeKeyPair(this.opts.teeKeyAlgorithm ?? 'ec-p256');
    const devices: Record<string, unknown> = {};
    for (const d of this.opts.deviceAttesters ?? []) {
      devices[d.tee] = await d.getEvidence(runtimeDataDigest(deviceRuntimeData(nonce, teeKey.publicJwk), hash));
    }
    const additional = Object.keys(devices).length ? JSON.stringify(devices) : '';
    const primary = await this.attester.getEvidence(runtimeDataDigest(primaryRuntimeData(nonce, teeKey.publicJwk, additional), hash));
    const body = {
      'init-data': this.opts.initData !== undefined ? { format: 'toml', body: this.opts.initData } : null,
      'runtime-data': { nonce, 'tee-pubkey': teeKey.publicJwk },
      'tee-evidence': { primary_evidence: primary, additional_evidence: additional },
    };
    const attestRes = await request(`${this.url}/kbs/v0/attest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `kbs-session-id=${cookie}` },
      body: JSON.stringify(body),
      timeoutMs: t,
      ca: this.opts.ca,
    });
    if (attestRes.status !== 200) throw httpError('KBS attest', attestRes);
    const tok = parseJson(attestRes.body, 'KBS attest response');
    if (!isRecord(tok) || typeof tok.token !== 'string') throw new CocoError('KBS_CLIENT_PROTOCOL', 'attest response has no token', { kind: 'input' });
    this.session = { token: tok.token, cookie, teeKey };
    return this.session;
  }

  /** Fetches and decrypts `repo/type/tag`; on 401 re-attests and retries (§1.11 step 3). */
  async getResource(path: string): Promise<Uint8Array> {
    const p = normalizeResourcePath(path);
    const attempts = this.opts.maxAttempts ?? 3;
    let last: CocoError | undefined;
    for (let i = 0; i < attempts; i++) {
      const s = i === 0 && this.session ? this.session : await this.attest();
      const res = await request(`${this.url}/kbs/v0/resource/${p}`, { method: 'GET', headers: { cookie: `kbs-session-id=${s.cookie}` }, timeoutMs: this.opts.timeoutMs, ca: this.opts.ca });
      if (res.status === 200) return decryptWithTeeKey(parseFlattenedJwe(parseJson(res.body, 'KBS resource response')), s.teeKey.privateKey);
      last = httpError(`KBS get resource ${p}`, res);
      if (res.status !== 401) break;
      this.session = undefined;
    }
    throw last!;
  }

  /**
   * Fetches and decrypts the per-workload secret `name` (`GET /kbs/v0/workload-resource/<name>`): the KBS
   * picks the workload from the verified evidence; `workloadId` only asks it to refuse any other.
   */
  async getWorkloadResource(name: string, workloadId?: string): Promise<Uint8Array> {
    const s = this.session ?? (await this.attest());
    const query = workloadId ? `?workload_id=${encodeURIComponent(workloadId)}` : '';
    const res = await request(`${this.url}/kbs/v0/workload-resource/${encodeURIComponent(name)}${query}`, { method: 'GET', headers: { cookie: `kbs-session-id=${s.cookie}` }, timeoutMs: this.opts.timeoutMs, ca: this.opts.ca });
    if (res.status !== 200) throw httpError(`KBS get workload resource ${name}`, res);
    return decryptWithTeeKey(parseFlattenedJwe(parseJson(res.body, 'KBS workload resource response')), s.teeKey.privateKey);
  }

  /** The resource as UTF-8 text. */
  async getResourceText(path: string): Promise<string> {
    return utf8.decode(await this.getResource(path));
  }
}
