/**
 * Verification of attestation tokens presented to the resource endpoint, by cookie or Bearer
 * (specs/kbs-protocol.md §1.7, TR `kbs/src/crypto/jwt.rs`). A token is trusted when its header `jwk` is the
 * built-in attestation service's signer, when `insecure_header_jwk` is set, or when its `kid` is in a
 * configured JWKS file. `exp` is required and checked with 60 s leeway; the algorithm comes from the key.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import type { SignerJwk } from '../attestation/signer.js';
import { parsePemCertificates, verifyJwkEndorsement } from './jwk-endorsement.js';

export interface TokenVerifierOptions {
  /** The built-in AS signer's public JWK (always trusted). */
  ownSigner?: SignerJwk;
  insecureHeaderJwk?: boolean;
  /** JWKS file paths or file:// URIs. */
  trustedJwkSets?: string[];
  /** PEM bundles whose certificates may endorse a header `jwk` through its `x5c` chain. */
  trustedCertsPaths?: string[];
  clock?: () => Date;
}

const DEFAULT_TEEKEY_PATHS = [
  '/tdx/attester_runtime_data/tee-pubkey',
  '/tdx/attester_user_data/tee-pubkey',
  '/customized_claims/runtime_data/tee-pubkey',
  '/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey',
  '/tee-pubkey',
];

function filePath(uri: string): string {
  return uri.startsWith('file://') ? uri.slice('file://'.length) : uri;
}

export class AttestationTokenVerifier {
  private readonly opts: TokenVerifierOptions;
  private readonly jwks?: ReturnType<typeof createLocalJWKSet>;
  private readonly trustedCerts: X509Certificate[];
  /** The own signer's key, imported once: importing a JWK per request cost as much as the signature check. */
  private ownKey?: ReturnType<typeof importJWK>;

  constructor(opts: TokenVerifierOptions) {
    this.opts = opts;
    if (opts.trustedJwkSets?.length) {
      const keys = opts.trustedJwkSets.flatMap((uri) => {
        if (/^https?:/.test(uri)) throw new CocoError('KBS_CONFIG', `trusted_jwk_sets: only local files are supported (no network at verification time): ${uri}`, { kind: 'usage' });
        try {
          return (JSON.parse(readFileSync(filePath(uri), 'utf8')) as JSONWebKeySet).keys;
        } catch (e) {
          throw new CocoError('KBS_CONFIG', `cannot read JWKS ${uri}: ${(e as Error).message}`, { kind: 'input', cause: e });
        }
      });
      this.jwks = createLocalJWKSet({ keys });
    }
    this.trustedCerts = (opts.trustedCertsPaths ?? []).flatMap((p) => {
      let text: string;
      try {
        text = readFileSync(filePath(p), 'utf8');
      } catch (e) {
        throw new CocoError('KBS_CONFIG', `cannot read trusted certificates ${p}: ${(e as Error).message}`, { kind: 'input', cause: e });
      }
      return parsePemCertificates(text, p);
    });
    if (!opts.ownSigner && !opts.insecureHeaderJwk && !this.jwks && this.trustedCerts.length === 0) {
      // Trustee refuses to start without a trust source (§1.7).
      throw new CocoError('KBS_CONFIG', 'no attestation token trust source configured', { kind: 'usage' });
    }
  }

  async verify(token: string): Promise<JWTPayload> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch (e) {
      throw new CocoError('KBS_TOKEN_FORMAT', `attestation token is not a JWS: ${(e as Error).message}`, { kind: 'auth', cause: e });
    }
    const now = (this.opts.clock ?? (() => new Date()))();
    const verifyOpts = { clockTolerance: 60, requiredClaims: ['exp'], currentDate: now };
    try {
      if (isRecord(header.jwk)) {
        const own = this.opts.ownSigner;
        const isOwn = own !== undefined && header.jwk.kty === 'EC' && header.jwk.x === own.x && header.jwk.y === own.y && header.jwk.crv === own.crv;
        if (!isOwn && !this.opts.insecureHeaderJwk) {
          if (this.trustedCerts.length === 0) throw new CocoError('KBS_TOKEN_UNTRUSTED', 'attestation token header key is not a trusted signer', { kind: 'auth' });
          verifyJwkEndorsement(header.jwk, this.trustedCerts, now);
        }
        const alg = typeof header.jwk.alg === 'string' ? header.jwk.alg : header.alg;
        const key = await (isOwn && alg === own.alg
          ? (this.ownKey ??= importJWK({ kty: own.kty, crv: own.crv, x: own.x, y: own.y, alg: own.alg }, own.alg))
          : importJWK({ ...(header.jwk as object), alg } as any, alg));
        return (await jwtVerify(token, key, { ...verifyOpts, algorithms: alg ? [alg] : undefined })).payload;
      }
      if (this.jwks && header.kid) return (await jwtVerify(token, this.jwks, verifyOpts)).payload;
      throw new CocoError('KBS_TOKEN_UNTRUSTED', 'attestation token has neither a header jwk nor a known kid', { kind: 'auth' });
    } catch (e) {
      if (e instanceof CocoError) throw e;
      const code = (e as { code?: string }).code;
      const msg = code === 'ERR_JWT_EXPIRED' ? 'attestation token has expired' : `attestation token verification failed: ${(e as Error).message}`;
      throw new CocoError('KBS_TOKEN_INVALID', msg, { kind: 'auth', cause: e });
    }
  }
}

/**
 * The claims of a token this KBS issued and kept in an attested session. The session row is sealed under the
 * key-encryption key with its id as associated data (store/kek.ts), so the token in it is the one `/attest`
 * signed and needs no second signature check; only its lifetime is checked, as `verify` would (60 s leeway).
 */
export function sessionTokenClaims(token: string, now: Date): JWTPayload {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch (e) {
    throw new CocoError('KBS_TOKEN_FORMAT', `session token is not a JWT: ${(e as Error).message}`, { kind: 'auth', cause: e });
  }
  if (typeof claims.exp !== 'number' || claims.exp + 60 <= now.getTime() / 1000) {
    throw new CocoError('KBS_TOKEN_INVALID', 'attestation token has expired', { kind: 'auth' });
  }
  return claims;
}

/** The TEE key for the JWE: the first configured or default JSON pointer that exists in the claims (§1.7). */
export function teePubkeyFromClaims(claims: unknown, extraPaths: string[] = []): unknown {
  for (const p of [...extraPaths, ...DEFAULT_TEEKEY_PATHS]) {
    const v = jsonPointer(claims, p);
    if (v !== undefined) return v;
  }
  throw new CocoError('KBS_TOKEN_NO_TEEKEY', 'attestation token carries no tee-pubkey', { kind: 'auth' });
}

export function jsonPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let cur: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isRecord(cur) || !Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}
