/**
 * Endorsement of a token-header JWK by certificates (TR `kbs/src/crypto/jwt.rs`, specs/kbs-protocol.md §1.7):
 * the JWK must carry a non-empty `x5c` whose leaf public key equals the JWK and whose chain (through the
 * other `x5c` certificates, in any order) reaches a certificate of `trusted_certs_paths`, each certificate
 * valid at the verification time.
 */
import { X509Certificate } from 'node:crypto';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import { publicJwkMembers, type PublicJwkMembers } from '../formats/jwk.js';

const MAX_DEPTH = 10;

function fail(msg: string): never {
  throw new CocoError('KBS_TOKEN_ENDORSEMENT', `token header jwk is not endorsed: ${msg}`, { kind: 'auth' });
}

export function parsePemCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0]);
  if (blocks.length === 0) throw new CocoError('KBS_CONFIG', `${what} holds no PEM certificate`, { kind: 'input' });
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new CocoError('KBS_CONFIG', `${what}: invalid certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  });
}

function sameKey(cert: X509Certificate, jwk: Record<string, unknown>): boolean {
  // A certificate whose SubjectPublicKeyInfo OpenSSL cannot decode endorses nothing.
  let k: PublicJwkMembers;
  try {
    k = publicJwkMembers(cert.publicKey);
  } catch {
    fail('the x5c leaf certificate holds an unreadable public key');
  }
  if (k.kty !== jwk.kty) return false;
  return k.kty === 'RSA' ? k.n === jwk.n && k.e === jwk.e : k.crv === jwk.crv && k.x === jwk.x && k.y === jwk.y;
}

/** Whether `issuer` signed `c`; an issuer whose public key OpenSSL cannot decode signed nothing. */
function issuedBy(c: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return c.checkIssued(issuer) && c.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function validAt(c: X509Certificate, now: Date): boolean {
  return new Date(c.validFrom) <= now && now <= new Date(c.validTo);
}

export function verifyJwkEndorsement(jwk: unknown, trusted: readonly X509Certificate[], now: Date): void {
  if (!isRecord(jwk)) fail('not an object');
  const x5c = jwk.x5c;
  if (!Array.isArray(x5c) || x5c.length === 0) fail('no x5c certificate chain');
  const chain = x5c.map((c, i) => {
    if (typeof c !== 'string') fail(`x5c[${i}] is not a string`);
    try {
      return new X509Certificate(Buffer.from(c, 'base64'));
    } catch {
      fail(`x5c[${i}] is not a DER certificate`);
    }
  });
  const leaf = chain[0];
  if (!sameKey(leaf, jwk)) fail('the x5c leaf certificate does not hold the jwk public key');
  const isTrusted = (c: X509Certificate) => trusted.some((t) => t.fingerprint256 === c.fingerprint256);
  const pool = [...chain.slice(1), ...trusted];
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (!validAt(current, now)) fail(`certificate ${current.subject.replace(/\n/g, ', ')} is not valid at ${now.toISOString()}`);
    if (isTrusted(current)) return;
    const issuer = pool.find((c) => c.fingerprint256 !== current.fingerprint256 && issuedBy(current, c));
    if (!issuer) fail(`no trusted issuer for ${current.subject.replace(/\n/g, ', ')}`);
    current = issuer;
  }
  fail('certificate chain too long');
}
