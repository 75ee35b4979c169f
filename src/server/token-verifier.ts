/**
 * Verification of attestation tokens presented to the resource endpoint, by cookie or Bearer
 * (specs/kbs-protocol.md §1.7, TR `kbs/src/crypto/jwt.rs`). A token is trusted when its header `jwk` is the
 * built-in attestation service's signer, when `insecure_header_jwk` is set, or when its `kid` is in a
 * configured JWKS file. `exp` is required and checked with 60 s leeway; the algorithm comes from the key.
 */
import { readFileSync } from 'node:fs';
import { createPublicKey, verify as verifySignature, X509Certificate, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { CocoError } from '../errors.js';
import { fromBase64Url } from '../formats/bytes.js';
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
  private ownKey?: KeyObject;

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
    const verifyOpts = { clockTolerance: CLOCK_TOLERANCE, requiredClaims: ['exp'], currentDate: now };
    try {
      if (isRecord(header.jwk)) {
        const own = this.opts.ownSigner;
        const isOwn = own !== undefined && header.jwk.kty === 'EC' && header.jwk.x === own.x && header.jwk.y === own.y && header.jwk.crv === own.crv;
        if (!isOwn && !this.opts.insecureHeaderJwk) {
          if (this.trustedCerts.length === 0) throw new CocoError('KBS_TOKEN_UNTRUSTED', 'attestation token header key is not a trusted signer', { kind: 'auth' });
          verifyJwkEndorsement(header.jwk, this.trustedCerts, now);
        }
        const alg = typeof header.jwk.alg === 'string' ? header.jwk.alg : header.alg;
        // The own signer's tokens, in the one form it issues, are checked here with its key object; any other
        // header (extensions, unencoded payloads, another algorithm) takes the general path below.
        if (isOwn && alg === own.alg && header.alg === own.alg && header.crit === undefined && header.b64 === undefined) {
          this.ownKey ??= createPublicKey({ key: { kty: own.kty, crv: own.crv, x: own.x, y: own.y }, format: 'jwk' });
          return verifyEs256Jwt(token, this.ownKey, now);
        }
        const key = await importJWK({ ...(header.jwk as object), alg } as any, alg);
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

/** Seconds of clock skew allowed on `exp` and `nbf`. */
const CLOCK_TOLERANCE = 60;

function invalid(msg: string): CocoError {
  return new CocoError('KBS_TOKEN_INVALID', `attestation token verification failed: ${msg}`, { kind: 'auth' });
}

/**
 * A compact ES256 JWS (RFC 7515 §7.1) over a JWT claims set: the signature (r ‖ s, RFC 7518 §3.4) over the
 * first two parts under `key`, then the claims as jose's JWT verification checks them (RFC 7519 §4.1): a
 * JSON object, `exp` required and numeric, `nbf` and `iat` numeric when present, with 60 s leeway.
 */
function verifyEs256Jwt(token: string, key: KeyObject, now: Date): JWTPayload {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('Invalid Compact JWS');
  const b64 = (text: string, what: string): Uint8Array => {
    try {
      return fromBase64Url(text, what);
    } catch {
      throw invalid(`${what} is not base64url`);
    }
  };
  const sig = b64(parts[2], 'signature');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  if (sig.length !== 64 || !verifySignature('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, sig)) throw invalid('signature verification failed');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(b64(parts[1], 'payload')).toString('utf8'));
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw invalid(`JWT Claims Set is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(claims)) throw invalid('JWT Claims Set must be a top-level JSON object');
  const t = Math.floor(now.getTime() / 1000);
  if (typeof claims.exp !== 'number') throw invalid(claims.exp === undefined ? 'missing required "exp" claim' : '"exp" claim must be a number');
  if (claims.nbf !== undefined && typeof claims.nbf !== 'number') throw invalid('"nbf" claim must be a number');
  if (claims.iat !== undefined && typeof claims.iat !== 'number') throw invalid('"iat" claim must be a number');
  if (typeof claims.nbf === 'number' && claims.nbf > t + CLOCK_TOLERANCE) throw invalid('"nbf" claim timestamp check failed');
  if (claims.exp <= t - CLOCK_TOLERANCE) throw new CocoError('KBS_TOKEN_INVALID', 'attestation token has expired', { kind: 'auth' });
  return claims as JWTPayload;
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
