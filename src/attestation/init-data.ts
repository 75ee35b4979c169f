/**
 * Init-data (specs/kbs-protocol.md §1.6): a TOML document whose digest, H_algorithm over the raw bytes as
 * sent, the TEE binds at launch. Claims are the `[data]` map with `aa.toml`/`cdh.toml` parsed and
 * `policy.rego` replaced by `agent_policy_claims` (Trustee AS `parse_init_data`).
 */
import { parse as parseToml } from 'smol-toml';
import { CocoError } from '../errors.js';
import { isRecord } from '../formats/json.js';
import { digest, isHashAlgorithm, type HashAlgorithm } from '../formats/runtime-data.js';
import { agentPolicyData, initDataClaims as sharedInitDataClaims } from '../measure/initdata.js';

export interface InitDataMessage {
  format: string;
  body: string;
}

export interface InitData {
  algorithm: HashAlgorithm;
  digest: Uint8Array;
  claims: Record<string, unknown>;
}

const MAX_INIT_DATA = 1024 * 1024;

/** Validates the `init-data` member of the attestation payload; `null`/absent means none. */
export function parseInitDataMessage(v: unknown): InitDataMessage | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || typeof v.format !== 'string' || typeof v.body !== 'string') {
    throw new CocoError('AS_INIT_DATA', 'init-data must be {"format": string, "body": string}', { kind: 'input' });
  }
  return { format: v.format, body: v.body };
}

export function evaluateInitData(msg: InitDataMessage): InitData {
  // The built-in AS accepts only TOML although Trustee's docs mention JSON (§1.4).
  if (msg.format !== 'toml') throw new CocoError('AS_INIT_DATA_FORMAT', `init-data format must be "toml", got ${JSON.stringify(msg.format)}`, { kind: 'input' });
  if (msg.body.length > MAX_INIT_DATA) throw new CocoError('AS_INIT_DATA', `init-data is larger than ${MAX_INIT_DATA} characters`, { kind: 'limit' });
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(msg.body) as Record<string, unknown>;
  } catch (e) {
    throw new CocoError('AS_INIT_DATA', `init-data is not valid TOML: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
  // serde names only: `sha-384` (the IANA name in Trustee's doc) is rejected by its code (§1.6).
  if (!isHashAlgorithm(doc.algorithm)) {
    throw new CocoError('AS_INIT_DATA_ALGORITHM', `init-data algorithm must be one of sha256, sha384, sha512, sm3; got ${JSON.stringify(doc.algorithm)}`, { kind: 'input' });
  }
  if (typeof doc.version !== 'string') throw new CocoError('AS_INIT_DATA', 'init-data needs a string "version"', { kind: 'input' });
  const data = doc.data === undefined ? {} : doc.data;
  if (!isRecord(data)) throw new CocoError('AS_INIT_DATA', 'init-data [data] must be a table', { kind: 'input' });
  return { algorithm: doc.algorithm, digest: digest(doc.algorithm, msg.body), claims: initDataClaims(data) };
}

/**
 * Trustee's `init_data_claims` for a `[data]` table (the shared implementation in measure/initdata.ts);
 * non-string values, which Trustee's typed parse would refuse, are kept as they are.
 */
export function initDataClaims(data: Record<string, unknown>): Record<string, unknown> {
  const strings = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const others = Object.fromEntries(Object.entries(data).filter(([, v]) => typeof v !== 'string'));
  return { ...others, ...sharedInitDataClaims({ version: '0.1.0', algorithm: 'sha256', data: strings }) };
}

/** The JSON object following the first `policy_data := {` of a genpolicy agent policy. */
export const agentPolicyClaims = agentPolicyData;
