/**
 * Signed statements of expected measurements: an in-toto Statement (v1 or v0.1) in a DSSE envelope, signed
 * by a key the operator trusts (ECDSA P-256 / P-384, Ed25519, RSA). Verification signs nothing and trusts
 * nothing but the given keys: the DSSE pre-authentication encoding (PAE) of the payload is checked against
 * each trusted key, then the Statement is parsed and its predicate turned into reference values.
 *
 * Predicates understood:
 * - `https://cocokit.dev/expected-measurements/v1` — `{ "reference_values": { "<id>": "<hex>" | ["<hex>", …] } }`
 * - CycloneDX (`https://cyclonedx.org/bom`): each component property `cocokit:reference-value:<id>` = hex,
 *   and the component list (name@version) as provenance claims.
 * - SPDX (`https://spdx.dev/Document`, 2.x JSON): each package annotation whose comment is
 *   `cocokit:reference-value:<id>=<hex>`, and the package list (name@versionInfo).
 * - SLSA provenance (`https://slsa.dev/provenance/v1`, `/v0.2`): the Statement's subjects are the measured
 *   artifacts, a subject named `cocokit:reference-value:<id>` gives its sha256/sha384/sha512 digest as value.
 * Every failure names the check that failed: `envelope`, `signature`, `statement`, `predicate`.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';

export const COCOKIT_PREDICATE = 'https://cocokit.dev/expected-measurements/v1';
export const CYCLONEDX_PREDICATE = 'https://cyclonedx.org/bom';
export const SPDX_PREDICATE = 'https://spdx.dev/Document';
export const SLSA_PREDICATES = ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2'];
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const STATEMENT_TYPES = ['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1'];
const MAX_ENVELOPE = 4 * 1024 * 1024;
const CYCLONEDX_PROPERTY = 'cocokit:reference-value:';

export interface ImportedStatement {
  /** Reference value id → accepted values (hex). */
  values: Record<string, string[]>;
  /**
   * Signer identity: `key:sha256:<hex of the SubjectPublicKeyInfo DER>` for a trusted key, the certificate's
   * subject alternative name for a Sigstore bundle.
   */
  signer: string;
  /** Sigstore bundles: the OIDC issuer the signing certificate names (Fulcio issuer extension). */
  signerIssuer?: string;
  /** SHA-256 (hex) of the signed payload: the Statement's digest. */
  statementDigest: string;
  predicateType: string;
  /** The Statement's subjects (name → digest set). */
  subjects: { name: string; digest: Record<string, string> }[];
  /** SBOM components (name@version), for resource policies. */
  components?: string[];
}

function fail(check: string, message: string, kind: 'input' | 'crypto' = 'input'): CocoError {
  return new CocoError(`RV_STATEMENT_${check.toUpperCase()}`, `${check} check failed: ${message}`, { kind, detail: { check } });
}

/** DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function dssePae(payloadType: string, payload: Uint8Array): Buffer {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}

/** The identity a trusted key signs as: the SHA-256 of its SubjectPublicKeyInfo. */
export function keyIdentity(key: KeyObject): string {
  return `key:sha256:${createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex')}`;
}

/** Parses a PEM public key (or certificate) the operator trusts. */
export function trustedKey(pem: string): KeyObject {
  try {
    const k = createPublicKey(pem);
    const t = k.asymmetricKeyType;
    if (t === 'ec') {
      const curve = k.asymmetricKeyDetails?.namedCurve;
      if (curve !== 'prime256v1' && curve !== 'secp384r1') throw fail('key', `ECDSA curve ${curve} is not P-256 or P-384`);
    } else if (t !== 'ed25519' && t !== 'rsa') {
      throw fail('key', `${t} keys are not supported (ECDSA P-256/P-384, Ed25519, RSA)`);
    }
    return k;
  } catch (e) {
    if (e instanceof CocoError) throw e;
    throw fail('key', `not a PEM public key: ${(e as Error).message}`);
  }
}

function verifyWith(key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === 'ed25519') return cryptoVerify(null, data, key, sig);
    const hash = key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'sha384' : 'sha256';
    return cryptoVerify(hash, data, key, sig);
  } catch {
    return false;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const b64 = (v: unknown, what: string): Buffer => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw fail('envelope', `${what} is not base64`);
  return Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
};
const HEX = /^[0-9a-f]+$/;

function hexValue(v: unknown, where: string): string {
  if (typeof v !== 'string' || !HEX.test(v) || v.length % 2 !== 0 || v.length > 256) throw fail('predicate', `${where} must be lower-case hex (at most 128 bytes)`);
  return v;
}

function predicateValues(type: string, p: unknown, subjects: { name: string; digest: Record<string, string> }[]): { values: Record<string, string[]>; components?: string[] } {
  if (!isObj(p)) throw fail('predicate', 'the predicate is not an object');
  const values: Record<string, string[]> = {};
  if (SLSA_PREDICATES.includes(type)) {
    for (const s of subjects) {
      if (!s.name.startsWith(CYCLONEDX_PROPERTY)) continue;
      const id = s.name.slice(CYCLONEDX_PROPERTY.length);
      const d = s.digest.sha384 ?? s.digest.sha512 ?? s.digest.sha256;
      if (id === '' || d === undefined) throw fail('predicate', `subject ${s.name} names no reference value or has no sha256/sha384/sha512 digest`);
      (values[id] ??= []).push(hexValue(d, `subject ${s.name}`));
    }
    if (Object.keys(values).length === 0) throw fail('predicate', `no subject is named ${CYCLONEDX_PROPERTY}<id>`);
    return { values };
  }
  if (type === SPDX_PREDICATE) {
    if (!Array.isArray(p.packages)) throw fail('predicate', 'the SPDX document has no packages list');
    const components: string[] = [];
    for (const [i, pkg] of p.packages.entries()) {
      if (!isObj(pkg) || typeof pkg.name !== 'string') throw fail('predicate', `packages[${i}] has no name`);
      components.push(typeof pkg.versionInfo === 'string' ? `${pkg.name}@${pkg.versionInfo}` : pkg.name);
      for (const a of Array.isArray(pkg.annotations) ? pkg.annotations : []) {
        if (!isObj(a) || typeof a.comment !== 'string' || !a.comment.startsWith(CYCLONEDX_PROPERTY)) continue;
        const m = /^([^=]+)=(.*)$/.exec(a.comment.slice(CYCLONEDX_PROPERTY.length));
        if (!m) throw fail('predicate', `packages[${i}] annotation ${JSON.stringify(a.comment.slice(0, 80))} is not ${CYCLONEDX_PROPERTY}<id>=<hex>`);
        (values[m[1]] ??= []).push(hexValue(m[2], `packages[${i}] annotation ${m[1]}`));
      }
    }
    if (Object.keys(values).length === 0) throw fail('predicate', `no package carries a ${CYCLONEDX_PROPERTY}<id>=<hex> annotation`);
    return { values, components };
  }
  if (type === COCOKIT_PREDICATE) {
    const rv = p.reference_values;
    if (!isObj(rv)) throw fail('predicate', 'reference_values must be an object of id → hex or [hex]');
    for (const [id, v] of Object.entries(rv)) values[id] = (Array.isArray(v) ? v : [v]).map((x, i) => hexValue(x, `reference_values.${id}${Array.isArray(v) ? `[${i}]` : ''}`));
    if (Object.values(values).some((v) => v.length === 0)) throw fail('predicate', 'a reference value lists no value');
  } else if (type === CYCLONEDX_PREDICATE) {
    const comps = p.components;
    if (!Array.isArray(comps)) throw fail('predicate', 'the CycloneDX BOM has no components list');
    const components: string[] = [];
    for (const [i, c] of comps.entries()) {
      if (!isObj(c) || typeof c.name !== 'string') throw fail('predicate', `components[${i}] has no name`);
      components.push(typeof c.version === 'string' ? `${c.name}@${c.version}` : c.name);
      for (const prop of Array.isArray(c.properties) ? c.properties : []) {
        if (!isObj(prop) || typeof prop.name !== 'string' || !prop.name.startsWith(CYCLONEDX_PROPERTY)) continue;
        const id = prop.name.slice(CYCLONEDX_PROPERTY.length);
        if (id === '') throw fail('predicate', `components[${i}] has a property naming no reference value`);
        (values[id] ??= []).push(hexValue(prop.value, `components[${i}] property ${prop.name}`));
      }
    }
    if (Object.keys(values).length === 0) throw fail('predicate', `no component carries a ${CYCLONEDX_PROPERTY}<id> property`);
    return { values, components };
  } else {
    throw fail('predicate', `predicate type ${JSON.stringify(type)} carries no measurements cocokit reads (${[COCOKIT_PREDICATE, CYCLONEDX_PREDICATE, SPDX_PREDICATE, ...SLSA_PREDICATES].join(', ')})`);
  }
  if (Object.keys(values).length === 0) throw fail('predicate', 'the predicate lists no reference value');
  return { values };
}

/**
 * Verifies a DSSE envelope against the trusted keys and reads the expected measurements of its Statement.
 * @throws CocoError RV_STATEMENT_ENVELOPE / _SIGNATURE (kind crypto) / _STATEMENT / _PREDICATE / _KEY
 */
export function importDsseStatement(envelopeBytes: Uint8Array, trusted: readonly KeyObject[]): ImportedStatement {
  if (envelopeBytes.length > MAX_ENVELOPE) throw new CocoError('RV_STATEMENT_ENVELOPE', `envelope check failed: larger than ${MAX_ENVELOPE} bytes`, { kind: 'limit', detail: { check: 'envelope' } });
  if (trusted.length === 0) throw new CocoError('RV_STATEMENT_USAGE', 'no trusted key given', { kind: 'usage' });
  let env: unknown;
  try {
    env = JSON.parse(Buffer.from(envelopeBytes).toString('utf8'));
  } catch (e) {
    throw fail('envelope', `not JSON: ${(e as Error).message}`);
  }
  if (!isObj(env) || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures)) throw fail('envelope', 'not a DSSE envelope (payloadType, payload, signatures)');
  const payload = b64(env.payload, 'payload');
  if (env.signatures.length === 0 || env.signatures.length > 16) throw fail('envelope', 'an envelope carries 1 to 16 signatures');
  const pae = dssePae(env.payloadType, payload);
  let signer: string | undefined;
  for (const s of env.signatures) {
    if (!isObj(s)) throw fail('envelope', 'a signature is not an object');
    const sig = b64(s.sig, 'sig');
    const key = trusted.find((k) => verifyWith(k, pae, sig));
    if (key) {
      signer = keyIdentity(key);
      break;
    }
  }
  if (signer === undefined) throw fail('signature', 'no signature verifies under a trusted key (untrusted signer or altered payload)', 'crypto');
  return readStatement(env.payloadType, payload, signer);
}

/**
 * The expected measurements of a Statement whose signature has been verified: only the signed bytes (payload
 * type and payload) are read.
 * @throws CocoError RV_STATEMENT_STATEMENT / _PREDICATE
 */
export function readStatement(payloadType: string, payload: Buffer, signer: string): ImportedStatement {
  if (payloadType !== INTOTO_PAYLOAD_TYPE) throw fail('statement', `payloadType ${JSON.stringify(payloadType)} is not ${INTOTO_PAYLOAD_TYPE}`);
  let st: unknown;
  try {
    st = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw fail('statement', `payload is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(st) || typeof st._type !== 'string' || !STATEMENT_TYPES.includes(st._type)) throw fail('statement', `not an in-toto Statement (_type ${STATEMENT_TYPES.join(' or ')})`);
  if (!Array.isArray(st.subject) || st.subject.length === 0) throw fail('statement', 'the Statement has no subject');
  const subjects = st.subject.map((x, i) => {
    if (!isObj(x) || typeof x.name !== 'string' || !isObj(x.digest) || !Object.values(x.digest).every((d) => typeof d === 'string' && HEX.test(d))) throw fail('statement', `subject[${i}] needs a name and a hex digest set`);
    return { name: x.name, digest: x.digest as Record<string, string> };
  });
  if (typeof st.predicateType !== 'string') throw fail('statement', 'the Statement has no predicateType');
  const { values, components } = predicateValues(st.predicateType, st.predicate, subjects);
  return { values, signer, statementDigest: createHash('sha256').update(payload).digest('hex'), predicateType: st.predicateType, subjects, ...(components ? { components } : {}) };
}
