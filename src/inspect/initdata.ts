/**
 * The inspector's view of a CoCo init-data document (TOML or JSON), the Kata pod annotation that carries it
 * (base64 of gzip), or the init-data block image: version, algorithm, every `[data]` entry, the digest of the
 * exact bytes and the value each TEE binds it into (SNP HOST_DATA, TDX MRCONFIGID, CCA RPV, TPM PCR 8;
 * measure/initdata.ts).
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { INITDATA_TEES, bindInitData, decodeInitDataAnnotation, initDataDigest, readInitDataImage, sniffInitDataFormat } from '../measure/initdata.js';
import { agentPolicySummary } from './policy.js';
import type { InspectedField, Inspection } from './types.js';

const ENTRY_MEANING: Record<string, string> = {
  'aa.toml': 'attestation agent configuration (KBS URL and certificate)',
  'cdh.toml': 'confidential data hub configuration (KBC, image registry settings)',
  'policy.rego': 'Kata agent policy the guest enforces',
};

const BINDING_MEANING: Record<string, string> = {
  HOST_DATA: 'SNP HOST_DATA the host must launch the VM with (digest zero-padded or truncated to 32 bytes)',
  MRCONFIGID: 'TDX MRCONFIGID the TD must be launched with (digest zero-padded or truncated to 48 bytes)',
  RPV: 'CCA Realm Personalization Value (digest zero-padded or truncated to 64 bytes)',
  PCR8: 'TPM PCR 8 after the attestation agent extends the digest once from zero',
};

const BINDING_REFERENCES: Record<string, string[]> = {
  HOST_DATA: ['snp_host_data', 'host_data', 'init_data'],
  MRCONFIGID: ['mr_config_id', 'tdx_mr_config_id'],
  PCR8: ['tpm_pcr8', 'pcr8'],
};

/** Does the text start like an init-data TOML or JSON document? */
export function looksLikeInitData(text: string): boolean {
  const head = text.slice(0, 4096).replace(/^\uFEFF/, '');
  return /^(\s*#[^\n]*\n)*\s*(version\s*=|algorithm\s*=|\[data\])/.test(head) || /^\s*\{\s*"(version|algorithm)"\s*:/.test(head);
}

/** gzip's magic `1f 8b 08` in base64 is `H4sI`. */
export function looksLikeInitDataAnnotation(text: string): boolean {
  return /^H4sI[A-Za-z0-9+/=\s]*$/.test(text.trim());
}

export function looksLikeInitDataImage(b: Uint8Array): boolean {
  return b.length >= 16 && Buffer.from(b.subarray(0, 8)).toString('latin1') === 'initdata';
}

export function inspectInitData(bytes: Uint8Array): Inspection {
  let doc = bytes;
  let form = 'toml';
  const text = Buffer.from(bytes).toString('latin1');
  if (looksLikeInitDataImage(bytes)) {
    doc = readInitDataImage(bytes);
    form = 'image';
  } else if (looksLikeInitDataAnnotation(text)) {
    doc = decodeInitDataAnnotation(text);
    form = 'annotation';
  }
  const format = sniffInitDataFormat(doc);
  if (form === 'toml' && format === 'json') form = 'json';
  const { algorithm, digest, initData } = initDataDigest(doc, format);
  const fields: InspectedField[] = [
    { name: 'version', value: initData.version, meaning: 'init-data format version' },
    { name: 'algorithm', value: algorithm, meaning: 'hash algorithm of the digest' },
    { name: 'document', value: `${doc.length} bytes (${format})`, meaning: form === 'toml' || form === 'json' ? 'the document as given' : `the document decoded from the ${form === 'image' ? 'init-data block image' : 'Kata annotation (base64 of gzip)'}` },
  ];
  for (const [key, value] of Object.entries(initData.data)) {
    const bytesOf = Buffer.from(value, 'utf8');
    const flags: Record<string, string | number | boolean> = { bytes: bytesOf.length, sha256: createHash('sha256').update(bytesOf).digest('hex') };
    if (key === 'policy.rego') Object.assign(flags, agentPolicySummary(value));
    const shown = value.length > 200 ? `${value.slice(0, 200)}… (${value.length} characters)` : value;
    fields.push({ name: `data.${key}`, value: shown, meaning: ENTRY_MEANING[key] ?? 'a file delivered to the guest', flags });
  }
  fields.push({ name: 'digest', value: toHex(digest), meaning: `${algorithm} of the exact document bytes: what the TEE evidence must carry` });
  for (const tee of INITDATA_TEES) {
    let b;
    try {
      b = bindInitData(digest, tee);
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
      fields.push({ name: `binding.${tee}`, value: '(none)', meaning: e.message });
      continue;
    }
    const references = BINDING_REFERENCES[b.field];
    fields.push({ name: `binding.${tee}.${b.field}`, value: toHex(b.value), meaning: BINDING_MEANING[b.field], ...(references ? { references } : {}) });
  }
  return {
    format: 'init-data',
    form,
    title: `CoCo init-data ${initData.version} (${algorithm}), ${Object.keys(initData.data).length} data entries: ${Object.keys(initData.data).join(', ') || 'none'}`,
    fields,
    checks: [],
    notes: [],
  };
}
