/**
 * Sigstore bundles of expected measurements, verified offline: a DSSE-enveloped in-toto Statement signed
 * with a short-lived certificate, verified against a trusted root the operator configures (Sigstore's
 * TrustedRoot JSON, `trusted_root.json`) and the signer identity the operator names (cosign's
 * `--certificate-identity` / `--certificate-oidc-issuer`, or their `-regexp` forms).
 *
 * The verification itself is `@sigstore/verify`'s: the certificate must chain to one of the root's
 * certificate authorities at the time a transparency log vouches for (the entry's integrated time), the
 * log entry's inclusion promise (SET) or inclusion proof must verify under the root's Rekor key and its body
 * must name this signature and payload, the DSSE signature must verify under the certificate's key, and the
 * certificate's SAN and OIDC issuer extension must match the policy. A root that lists certificate
 * transparency logs also requires an SCT in the certificate; a root that lists none (a private CA) does not.
 * Only then is the payload read, by the same Statement and predicate code as keyed DSSE envelopes.
 *
 * Every failure names the check: `bundle`, `trusted-root`, `certificate`, `tlog`, `timestamp`, `signature`,
 * `identity`, then `statement` and `predicate` as for keyed envelopes.
 */
import { BUNDLE_V01_MEDIA_TYPE, ValidationError, assertBundle, assertBundleV01, bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { PolicyError, VerificationError, Verifier, toSignedEntity, toTrustMaterial, type TrustMaterial, type VerificationPolicy } from '@sigstore/verify';
import { CocoError } from '../errors.js';
import { readStatement, type ImportedStatement } from './signed-statement.js';

const MAX_BUNDLE = 4 * 1024 * 1024;
const MAX_ROOT = 1024 * 1024;
const TRUSTED_ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v\d+\.\d+)?\+json(;version=\d+\.\d+)?$/;

/** Who must have signed: the certificate's SAN and OIDC issuer, each exact or as a regular expression. */
export interface SignerPolicy {
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
}

/** A parsed trusted root, ready to verify bundles against (parse once, verify many). */
export interface SigstoreTrust {
  material: TrustMaterial;
  /** Whether the root lists CT logs, in which case a certificate must carry an SCT from one of them. */
  ctlogs: number;
}

function fail(check: string, message: string, kind: 'input' | 'crypto' | 'expectation' | 'limit' = 'input'): CocoError {
  return new CocoError(`RV_STATEMENT_${check.toUpperCase().replace(/-/g, '_')}`, `${check} check failed: ${message}`, { kind, detail: { check } });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonBytes(bytes: Uint8Array, check: string, what: string, max: number): unknown {
  if (bytes.length > max) throw fail(check, `${what} is larger than ${max} bytes`, 'limit');
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw fail(check, `${what} is not JSON: ${(e as Error).message}`);
  }
}

/**
 * Reads Sigstore's TrustedRoot JSON (certificate authorities, transparency logs, optional CT logs and
 * timestamp authorities).
 * @throws CocoError RV_STATEMENT_TRUSTED_ROOT
 */
export function parseTrustedRoot(bytes: Uint8Array): SigstoreTrust {
  const doc = parseJsonBytes(bytes, 'trusted-root', 'the trusted root', MAX_ROOT);
  if (!isObj(doc) || typeof doc.mediaType !== 'string' || !TRUSTED_ROOT_MEDIA_TYPE.test(doc.mediaType)) {
    throw fail('trusted-root', 'not a Sigstore TrustedRoot (mediaType application/vnd.dev.sigstore.trustedroot+json;version=0.1)');
  }
  if (!Array.isArray(doc.certificateAuthorities) || doc.certificateAuthorities.length === 0) throw fail('trusted-root', 'the root lists no certificate authority');
  if (!Array.isArray(doc.tlogs) || doc.tlogs.length === 0) throw fail('trusted-root', 'the root lists no transparency log');
  try {
    const root = TrustedRoot.fromJSON(doc);
    const material = toTrustMaterial(root);
    return { material, ctlogs: root.ctlogs.length };
  } catch (e) {
    throw fail('trusted-root', `the root does not parse: ${(e as Error).message}`);
  }
}

function signerPolicy(p: SignerPolicy): { policy: VerificationPolicy; issuerRegexp?: RegExp } {
  const pick = (exact: string | undefined, re: string | undefined, flag: string): { exact?: string; re?: RegExp } => {
    if ((exact === undefined) === (re === undefined)) throw new CocoError('RV_STATEMENT_USAGE', `a Sigstore bundle needs exactly one of --${flag} and --${flag}-regexp`, { kind: 'usage' });
    if (exact !== undefined) {
      if (exact === '') throw new CocoError('RV_STATEMENT_USAGE', `--${flag} is empty`, { kind: 'usage' });
      return { exact };
    }
    try {
      return { re: new RegExp(re!) };
    } catch (e) {
      throw new CocoError('RV_STATEMENT_USAGE', `--${flag}-regexp does not compile: ${(e as Error).message}`, { kind: 'usage' });
    }
  };
  const id = pick(p.certificateIdentity, p.certificateIdentityRegexp, 'certificate-identity');
  const iss = pick(p.certificateOidcIssuer, p.certificateOidcIssuerRegexp, 'certificate-oidc-issuer');
  // The verifier matches the SAN as a regular expression: an exact identity is anchored and escaped.
  const san = id.exact !== undefined ? `^${id.exact.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` : id.re!.source;
  return { policy: { subjectAlternativeName: san, ...(iss.exact !== undefined ? { extensions: { issuer: iss.exact } } : {}) }, ...(iss.re ? { issuerRegexp: iss.re } : {}) };
}

function readBundle(bytes: Uint8Array): Bundle {
  const doc = parseJsonBytes(bytes, 'bundle', 'the bundle', MAX_BUNDLE);
  if (!isObj(doc)) throw fail('bundle', 'the bundle is not a JSON object');
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(doc);
    assertBundle(bundle);
    if (bundle.mediaType === BUNDLE_V01_MEDIA_TYPE) assertBundleV01(bundle);
  } catch (e) {
    const fields = e instanceof ValidationError && e.fields ? ` (${e.fields.join(', ')})` : '';
    throw fail('bundle', `not a Sigstore bundle: ${(e as Error).message}${fields}`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw fail('bundle', 'the bundle signs a message digest, not a DSSE-enveloped in-toto Statement');
  const vm = bundle.verificationMaterial.content.$case;
  // A bundle verified by key belongs with --trusted-key; here the signer is known by its certificate.
  if (vm === 'publicKey') throw fail('certificate', 'the bundle names a public key, not a signing certificate (verify keyed statements with --trusted-key)', 'crypto');
  if (bundle.verificationMaterial.tlogEntries.length === 0) throw fail('tlog', 'the bundle carries no transparency-log entry', 'crypto');
  return bundle;
}

const CHECK_OF: Record<string, string> = {
  CERTIFICATE_ERROR: 'certificate',
  PUBLIC_KEY_ERROR: 'certificate',
  TLOG_ERROR: 'tlog',
  TLOG_INCLUSION_PROOF_ERROR: 'tlog',
  TLOG_INCLUSION_PROMISE_ERROR: 'tlog',
  TLOG_MISSING_INCLUSION_ERROR: 'tlog',
  TLOG_BODY_ERROR: 'tlog',
  TIMESTAMP_ERROR: 'timestamp',
  SIGNATURE_ERROR: 'signature',
  NOT_IMPLEMENTED_ERROR: 'bundle',
};

function describe(e: { message: string; cause?: unknown }): string {
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return `${e.message}${cause}`;
}

/**
 * Verifies a Sigstore bundle against the trusted root and signer policy, then reads the expected
 * measurements of its Statement. The signer is the certificate's SAN, `signerIssuer` its OIDC issuer.
 * @throws CocoError RV_STATEMENT_BUNDLE / _CERTIFICATE / _TLOG / _TIMESTAMP / _SIGNATURE (kind crypto) /
 *   _IDENTITY (kind expectation) / _STATEMENT / _PREDICATE; RV_STATEMENT_USAGE for a missing or bad policy
 */
export function importSigstoreBundle(bundleBytes: Uint8Array, trust: SigstoreTrust, who: SignerPolicy): ImportedStatement {
  const { policy, issuerRegexp } = signerPolicy(who);
  const bundle = readBundle(bundleBytes);
  let identity: { san?: string; issuer?: string };
  try {
    const entity = toSignedEntity(bundle);
    const signer = new Verifier(trust.material, { ctlogThreshold: trust.ctlogs > 0 ? 1 : 0 }).verify(entity, policy);
    identity = { san: signer.identity?.subjectAlternativeName, issuer: signer.identity?.extensions?.issuer };
  } catch (e) {
    if (e instanceof PolicyError) throw fail('identity', `the signing certificate is not the expected signer: ${e.message}`, 'expectation');
    if (e instanceof VerificationError) throw fail(CHECK_OF[e.code] ?? 'bundle', describe(e), 'crypto');
    if (e instanceof CocoError) throw e;
    // Certificates or log entries the parsers cannot read.
    throw fail('bundle', `the bundle's verification material does not parse: ${(e as Error).message}`);
  }
  if (identity.san === undefined || identity.issuer === undefined) throw fail('identity', 'the signing certificate names no SAN or no OIDC issuer', 'expectation');
  if (issuerRegexp && !issuerRegexp.test(identity.issuer)) throw fail('identity', `OIDC issuer ${JSON.stringify(identity.issuer)} does not match ${issuerRegexp.source}`, 'expectation');
  const env = bundle.content.$case === 'dsseEnvelope' ? bundle.content.dsseEnvelope : undefined;
  if (!env) throw fail('bundle', 'the bundle carries no DSSE envelope');
  return { ...readStatement(env.payloadType, Buffer.from(env.payload), identity.san), signerIssuer: identity.issuer };
}

/** Whether a document is a Sigstore bundle (by its media type) rather than a bare DSSE envelope. */
export function isSigstoreBundle(bytes: Uint8Array): boolean {
  if (bytes.length > MAX_BUNDLE) return false;
  try {
    const doc: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return isObj(doc) && typeof doc.mediaType === 'string' && doc.mediaType.startsWith('application/vnd.dev.sigstore.bundle');
  } catch {
    return false;
  }
}
