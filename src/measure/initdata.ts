/**
 * CoCo init-data: the host-supplied, integrity-protected configuration document of a pod VM
 * (specs/tdx-initdata.md §6, specs/kbs-protocol.md §1.6).
 *
 * The digest is the declared hash over the EXACT bytes of the document as delivered — no parsing, no
 * normalisation. The document is parsed only to learn `algorithm` and to validate `version` and `[data]`
 * (Kata `kata-types/src/initdata.rs`, Trustee AS `parse_init_data`). The same functions serve the CLI
 * (`cocokit initdata …`) and the KBS (digest, evidence binding, `init_data_claims`).
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parse as parseToml, TomlError } from 'smol-toml';
import { CocoError } from '../errors.js';
import { concatBytes, fromBase64, toBase64 } from '../formats/bytes.js';
import { ByteReader } from '../formats/reader.js';
import { check, type Check } from '../formats/check.js';

/** The pod annotation Kata reads init-data from (`virtcontainers/pkg/annotations` `Initdata`). */
export const INITDATA_ANNOTATION = 'io.katacontainers.config.hypervisor.cc_init_data';

/** The only version defined; Kata rejects every other one. */
export const INITDATA_VERSION = '0.1.0';

/**
 * Accepted algorithm names, lower-case exactly: Kata's `SUPPORTED_ALGORITHMS` and the serde names of
 * `kbs_types::HashAlgorithm`. The IANA names the Trustee doc mentions (`sha-384`) are rejected by the
 * code, and so are they here. Trustee also knows `sm3`, which Kata refuses; a document for a Kata pod must
 * not use it, so it is rejected too.
 */
export const INITDATA_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;
export type InitDataAlgorithm = (typeof INITDATA_ALGORITHMS)[number];

export type InitDataFormat = 'toml' | 'json';

export interface InitData {
  version: string;
  algorithm: InitDataAlgorithm;
  /** `[data]`: file name → file content (`aa.toml`, `cdh.toml`, `policy.rego`, anything else). */
  data: Record<string, string>;
}

const DIGEST_SIZES: Record<InitDataAlgorithm, number> = { sha256: 32, sha384: 48, sha512: 64 };

/**
 * Parses and validates an init-data document. TOML is what CoCo delivers everywhere (the Kata annotation,
 * Trustee's `init-data.format = "toml"`); JSON is accepted because the spec allows any key-value encoding
 * and Trustee's doc shows both (their digests differ by design).
 *
 * @throws CocoError INITDATA_UTF8, INITDATA_TOML, INITDATA_JSON, INITDATA_VERSION, INITDATA_ALGORITHM,
 *   INITDATA_DATA (all kind `input`)
 */
export function parseInitData(bytes: Uint8Array, format: InitDataFormat = 'toml'): InitData {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CocoError('INITDATA_UTF8', 'init-data document is not valid UTF-8', { kind: 'input' });
  }
  let doc: unknown;
  if (format === 'toml') {
    try {
      doc = parseToml(text);
    } catch (e) {
      const msg = e instanceof TomlError ? e.message.split('\n')[0] : String(e);
      const where = e instanceof TomlError ? ` (line ${e.line}, column ${e.column})` : '';
      throw new CocoError('INITDATA_TOML', `init-data is not valid TOML${where}: ${msg}`, { kind: 'input', cause: e });
    }
  } else {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new CocoError('INITDATA_JSON', `init-data is not valid JSON: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new CocoError('INITDATA_DATA', 'init-data document must be a table/object at the top level', { kind: 'input' });
  }
  const d = doc as Record<string, unknown>;
  if (d.version !== INITDATA_VERSION) {
    throw new CocoError(
      'INITDATA_VERSION',
      d.version === undefined
        ? `init-data has no "version" (expected "${INITDATA_VERSION}")`
        : `init-data version ${JSON.stringify(d.version)} is not supported (only "${INITDATA_VERSION}")`,
      { kind: 'input' },
    );
  }
  const algorithm = checkAlgorithm(d.algorithm);
  if (d.data === undefined) throw new CocoError('INITDATA_DATA', 'init-data has no [data] table', { kind: 'input' });
  if (typeof d.data !== 'object' || d.data === null || Array.isArray(d.data)) {
    throw new CocoError('INITDATA_DATA', 'init-data "data" must be a table of strings', { kind: 'input' });
  }
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.data as Record<string, unknown>)) {
    if (typeof v !== 'string') {
      throw new CocoError('INITDATA_DATA', `init-data [data] value of ${JSON.stringify(k)} must be a string, not ${describe(v)}`, { kind: 'input' });
    }
    data[k] = v;
  }
  return { version: INITDATA_VERSION, algorithm, data };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date || (typeof v === 'object' && v !== null && v.constructor?.name === 'TomlDate')) return 'a date';
  return typeof v === 'object' ? 'a table' : `a ${typeof v}`;
}

function checkAlgorithm(alg: unknown): InitDataAlgorithm {
  if (alg === undefined) {
    throw new CocoError('INITDATA_ALGORITHM', `init-data has no "algorithm" (one of ${INITDATA_ALGORITHMS.join(', ')})`, { kind: 'input' });
  }
  if (typeof alg === 'string' && (INITDATA_ALGORITHMS as readonly string[]).includes(alg)) return alg as InitDataAlgorithm;
  let hint = '';
  if (typeof alg === 'string') {
    const lower = alg.toLowerCase().replace(/-/g, '');
    if ((INITDATA_ALGORITHMS as readonly string[]).includes(lower)) {
      hint = ` — write "${lower}": Kata and Trustee accept only the lower-case names without a dash`;
    } else if (lower === 'sm3') {
      hint = ' — Kata does not support sm3';
    }
  }
  throw new CocoError(
    'INITDATA_ALGORITHM',
    `init-data algorithm ${JSON.stringify(alg)} is not supported (one of ${INITDATA_ALGORITHMS.join(', ')})${hint}`,
    { kind: 'input' },
  );
}

/** Guesses the encoding of a document: JSON when its first non-blank character is `{`, else TOML. */
export function sniffInitDataFormat(bytes: Uint8Array): InitDataFormat {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf) continue;
    return b === 0x7b ? 'json' : 'toml';
  }
  return 'toml';
}

export interface InitDataDigest {
  algorithm: InitDataAlgorithm;
  digest: Uint8Array;
  initData: InitData;
}

/**
 * Validates the document and hashes its exact bytes with the algorithm it declares.
 * @throws CocoError as `parseInitData`
 */
export function initDataDigest(bytes: Uint8Array, format: InitDataFormat = 'toml'): InitDataDigest {
  const initData = parseInitData(bytes, format);
  const digest = new Uint8Array(createHash(initData.algorithm).update(bytes).digest());
  return { algorithm: initData.algorithm, digest, initData };
}

/** Digest size in bytes of an init-data algorithm. */
export function digestSize(algorithm: InitDataAlgorithm): number {
  return DIGEST_SIZES[algorithm];
}

/**
 * Zero-pads at the end or truncates at the end to `size` (Trustee `regularize_data`, Kata `adjust_digest`,
 * the Go runtime's `adjustProperLength`).
 */
export function regularizeDigest(digest: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(digest.subarray(0, size));
  return out;
}

/**
 * The PCR 8 value a TPM/vTPM verifier expects after the guest's attestation agent extended it once from
 * zero with the digest: SHA-256(0³² ‖ digest) (Trustee `tpm/mod.rs`, `az_snp_vtpm` `verify_init_data`).
 * @throws CocoError INITDATA_DIGEST_SIZE when the digest is not 32 bytes — the CoCo vTPM attesters refuse
 *   to extend PCR 8 with it, so only `algorithm = "sha256"` documents can be bound to a TPM.
 */
export function expectedPcr8(digest: Uint8Array): Uint8Array {
  if (digest.length !== 32) {
    throw new CocoError(
      'INITDATA_DIGEST_SIZE',
      `a ${digest.length}-byte digest cannot be bound to PCR 8: the CoCo TPM/vTPM attesters extend only 32-byte (sha256) init-data digests`,
      { kind: 'input' },
    );
  }
  return new Uint8Array(createHash('sha256').update(concatBytes(new Uint8Array(32), digest)).digest());
}

export type InitDataTee = 'snp' | 'tdx' | 'tpm' | 'cca';
export const INITDATA_TEES: readonly InitDataTee[] = ['snp', 'tdx', 'tpm', 'cca'];

export interface InitDataBinding {
  tee: InitDataTee;
  /** The evidence field the digest is bound into. */
  field: 'HOST_DATA' | 'MRCONFIGID' | 'PCR8' | 'RPV';
  value: Uint8Array;
}

/**
 * The evidence value a TEE carries for this init-data digest (specs/tdx-initdata.md §6.1 table):
 * SNP HOST_DATA (32 B), TDX MRCONFIGID (48 B), CCA Realm Personalization Value (64 B), TPM PCR 8.
 */
export function bindInitData(digest: Uint8Array, tee: InitDataTee): InitDataBinding {
  switch (tee) {
    case 'snp':
      return { tee, field: 'HOST_DATA', value: regularizeDigest(digest, 32) };
    case 'tdx':
      return { tee, field: 'MRCONFIGID', value: regularizeDigest(digest, 48) };
    case 'cca':
      return { tee, field: 'RPV', value: regularizeDigest(digest, 64) };
    case 'tpm':
      return { tee, field: 'PCR8', value: expectedPcr8(digest) };
    default:
      throw new CocoError('INITDATA_TEE', `unknown TEE ${JSON.stringify(tee)} (one of ${INITDATA_TEES.join(', ')})`, { kind: 'usage' });
  }
}

/**
 * The verifier's init-data check (Trustee `verify_init_data` per TEE): does the evidence field carry this
 * digest? A digest that cannot be bound (non-32-byte digest for a TPM) fails the check rather than throws.
 */
export function checkInitDataBinding(digest: Uint8Array, tee: InitDataTee, actual: Uint8Array): Check {
  let expected: InitDataBinding;
  try {
    expected = bindInitData(digest, tee);
  } catch (e) {
    return check('init-data', false, (e as Error).message, { actual: Buffer.from(actual).toString('hex') });
  }
  const ok = expected.value.length === actual.length && Buffer.compare(expected.value, actual) === 0;
  return check('init-data', ok, `${tee} ${expected.field} ${ok ? 'carries' : 'does not carry'} the init-data digest`, {
    expected: Buffer.from(expected.value).toString('hex'),
    actual: Buffer.from(actual).toString('hex'),
  });
}

/** Default cap on a decompressed annotation: far above any real document, far below a gzip bomb. */
export const DEFAULT_MAX_INITDATA_BYTES = 4 * 1024 * 1024;

/**
 * The Kata pod annotation value: standard base64 (padded) of gzip of the exact bytes, like
 * `gzip < initdata.toml | base64 -w0`. gzip output is not canonical, so compare decoded bytes, not values.
 */
export function encodeInitDataAnnotation(bytes: Uint8Array): string {
  return toBase64(gzipSync(bytes, { level: 9 }));
}

/**
 * Decodes a Kata annotation value back to the document bytes. Surrounding whitespace and a missing `=`
 * pad are tolerated (the cloud-api-adaptor doc's example lacks one); decompression is bounded.
 * @throws CocoError INITDATA_ANNOTATION (not base64 / not gzip), INITDATA_TOO_LARGE (kind `limit`)
 */
export function decodeInitDataAnnotation(value: string, maxBytes = DEFAULT_MAX_INITDATA_BYTES): Uint8Array {
  const compact = value.replace(/\s+/g, '');
  let gz: Uint8Array;
  try {
    gz = fromBase64(compact, 'init-data annotation');
  } catch (e) {
    throw new CocoError('INITDATA_ANNOTATION', 'init-data annotation is not valid base64', { kind: 'input', cause: e });
  }
  return gunzipBounded(gz, maxBytes, 'init-data annotation');
}

function gunzipBounded(gz: Uint8Array, maxBytes: number, what: string): Uint8Array {
  if (gz.length < 18 || gz[0] !== 0x1f || gz[1] !== 0x8b) {
    throw new CocoError('INITDATA_ANNOTATION', `${what} is not gzip data (no 1f8b header)`, { kind: 'input' });
  }
  try {
    return new Uint8Array(gunzipSync(gz, { maxOutputLength: maxBytes }));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new CocoError('INITDATA_TOO_LARGE', `${what} decompresses to more than ${maxBytes} bytes`, { kind: 'limit', cause: e });
    }
    throw new CocoError('INITDATA_ANNOTATION', `${what} is not valid gzip: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

const IMAGE_MAGIC = 'initdata';

/**
 * Reads the init-data block device Kata attaches to the VM (`hypervisor.go` `prepareInitdataImage`):
 * `initdata` magic, u64 LE gzip length, the gzip stream, zero padding.
 * @throws CocoError INITDATA_IMAGE, FORMAT_TRUNCATED, INITDATA_TOO_LARGE
 */
export function readInitDataImage(image: Uint8Array, maxBytes = DEFAULT_MAX_INITDATA_BYTES): Uint8Array {
  const r = new ByteReader(image, 'init-data image');
  const magic = Buffer.from(r.take(8)).toString('latin1');
  if (magic !== IMAGE_MAGIC) {
    throw new CocoError('INITDATA_IMAGE', `init-data image has magic ${JSON.stringify(magic)}, expected "initdata"`, { kind: 'input' });
  }
  const len = r.u64le();
  if (len > BigInt(r.remaining)) {
    throw new CocoError('INITDATA_IMAGE', `init-data image declares ${len} gzip bytes but only ${r.remaining} follow`, { kind: 'input' });
  }
  return gunzipBounded(r.take(Number(len)), maxBytes, 'init-data image payload');
}

/**
 * Trustee's `init_data_claims` (AS `parse_init_data`, specs/kbs-protocol.md §1.6): the `[data]` map, with
 * `aa.toml` and `cdh.toml` values replaced by their TOML parse as JSON objects, and `policy.rego` replaced
 * by `agent_policy_claims` = the JSON object after the first `policy_data := ` in the Rego text. A value
 * that does not parse is left as the original string, as Trustee does.
 */
export function initDataClaims(initData: InitData): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(initData.data)) {
    if (key === 'aa.toml' || key === 'cdh.toml') {
      try {
        claims[key] = toJsonValue(parseToml(value));
      } catch {
        claims[key] = value;
      }
    } else if (key === 'policy.rego') {
      const policy = agentPolicyData(value);
      if (policy === undefined) claims[key] = value;
      else claims.agent_policy_claims = policy;
    } else {
      claims[key] = value;
    }
  }
  return claims;
}

/** TOML values as plain JSON (dates become their RFC 3339 text, big integers numbers). */
function toJsonValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object' && v !== null) {
    if (typeof (v as { toISOString?: unknown }).toISOString === 'function' && !(Symbol.iterator in v)) {
      return String(v);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonValue(x)]));
  }
  return v;
}

/** The JSON object genpolicy appends to a Kata agent policy as `policy_data := {…}`, or undefined. */
export function agentPolicyData(rego: string): Record<string, unknown> | undefined {
  const m = /policy_data\s*:=\s*/.exec(rego);
  if (m === null) return undefined;
  const start = m.index + m[0].length;
  if (rego[start] !== '{') return undefined;
  const end = matchingBrace(rego, start);
  if (end < 0) return undefined;
  try {
    const v: unknown = JSON.parse(rego.slice(start, end + 1));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Index of the `}` closing the JSON object at `start`, skipping braces inside strings; -1 if none. */
function matchingBrace(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}
