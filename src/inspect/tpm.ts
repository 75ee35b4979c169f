/**
 * The inspector's view of TPM evidence: a TPM2_Quote (TPMS_ATTEST, TPM2B_ATTEST, or Trustee's `tpm` evidence
 * JSON with its AK, signature and PCR values; tpm/attest.ts, tpm/quote.ts) and measured-boot event logs (TCG
 * PC Client crypto-agile logs replayed into PCRs, TDX CCEL logs replayed into RTMRs; eventlog/, tee/tdx/ccel.ts).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';
import { toHex } from '../formats/bytes.js';
import { check, type Check } from '../formats/check.js';
import { isRecord } from '../formats/json.js';
import { checkEventDigests, decodeEvent, parseEventLog, replayEventLog, type EventLog, type RegisterBanks } from '../eventlog/index.js';
import { replayCcel } from '../tee/tdx/ccel.js';
import { tpmEvidenceFromJson } from '../tee/tpm/evidence.js';
import { TPM_GENERATED_VALUE, TPM_ST_ATTEST, algName, parseAttest, parseSignature, parseTpm2bPublic, verifyQuote, type TpmsAttest, type TpmtPublic } from '../tpm/index.js';
import type { InspectedField, Inspection, InspectOptions } from './types.js';

const ATTEST_TYPES: Record<number, string> = Object.fromEntries(Object.entries(TPM_ST_ATTEST).map(([k, v]) => [v, `TPM_ST_ATTEST_${k}`]));

const u32be = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** TPMS_ATTEST starts with TPM_GENERATED_VALUE; a TPM2B_ATTEST has its u16 size first. */
export function tpmAttestOffset(b: Uint8Array): 0 | 2 | undefined {
  if (b.length >= 6 && u32be(b, 0) === TPM_GENERATED_VALUE) return 0;
  if (b.length >= 8 && u32be(b, 2) === TPM_GENERATED_VALUE && ((b[0] << 8) | b[1]) === b.length - 2) return 2;
  return undefined;
}

export function isTpmEvidenceJson(v: unknown): boolean {
  return isRecord(v) && 'tpm_quote' in v && 'ak_public' in v;
}

/** Crypto-agile (Spec ID Event03) or Spec ID Event02 header in the first record. */
export function looksLikeEventLog(b: Uint8Array): boolean {
  if (b.length < 48) return false;
  const sig = Buffer.from(b.subarray(32, 47)).toString('latin1');
  return u32be(b, 4) === 0x03000000 && (sig === 'Spec ID Event03' || sig === 'Spec ID Event02');
}

function attestFields(a: TpmsAttest, base: number): InspectedField[] {
  const f: InspectedField[] = [];
  let at = base;
  const push = (name: string, size: number, value: string, meaning: string, extra: Partial<InspectedField> = {}): void => {
    f.push({ name, offset: at, size, value, meaning, ...extra });
    at += size;
  };
  push('MAGIC', 4, `0x${a.magic.toString(16)}`, 'TPM_GENERATED_VALUE: the structure was made inside a TPM');
  push('TYPE', 2, `0x${a.tag.toString(16)}`, `attestation structure type: ${ATTEST_TYPES[a.tag] ?? 'unknown'}`);
  push('QUALIFIED_SIGNER', 2 + a.qualifiedSigner.length, toHex(a.qualifiedSigner), 'qualified name of the signing key (name algorithm ‖ digest)');
  push('EXTRA_DATA', 2 + a.extraData.length, toHex(a.extraData), 'qualifying data the caller gave: the verifier\'s nonce (CoCo: hash of nonce and TEE key)');
  push('CLOCK', 8, a.clockInfo.clock.toString(), 'milliseconds the TPM has been powered since its clock was last set');
  push('RESET_COUNT', 4, String(a.clockInfo.resetCount), 'TPM resets (reboots) since the last clear');
  push('RESTART_COUNT', 4, String(a.clockInfo.restartCount), 'TPM restarts / resumes since the last reset');
  push('SAFE', 1, String(a.clockInfo.safe), 'whether the clock value has not gone backwards');
  push('FIRMWARE_VERSION', 8, `0x${a.firmwareVersion.toString(16).padStart(16, '0')}`, 'TPM firmware version (obfuscated for keys outside the endorsement hierarchy)');
  const x = a.attested;
  if (x.type === 'quote') {
    const selSize = 4 + x.pcrSelect.reduce((n, s) => n + 3 + s.sizeofSelect, 0);
    push('PCR_SELECT', selSize, x.pcrSelect.map((s) => `${s.bank}:${s.pcrs.join(',')}`).join(' '), 'the PCRs the quote covers, per bank', {
      flags: Object.fromEntries(x.pcrSelect.map((s) => [s.bank, s.pcrs.join(',')])),
    });
    push('PCR_DIGEST', 2 + x.pcrDigest.length, toHex(x.pcrDigest), 'digest of the selected PCR values, concatenated in selection order, with the signature\'s hash');
  } else if (x.type === 'certify') {
    push('NAME', 2 + x.name.length, toHex(x.name), 'Name of the certified object');
    push('QUALIFIED_NAME', 2 + x.qualifiedName.length, toHex(x.qualifiedName), 'qualified name of the certified object');
  } else {
    push('ATTESTED', x.body.length, toHex(x.body), 'the attested body (not decoded for this type)');
  }
  return f;
}

function loadAk(bytes: Uint8Array): TpmtPublic | KeyObject {
  if (Buffer.from(bytes.subarray(0, 64)).toString('latin1').includes('-----BEGIN')) {
    try {
      return createPublicKey(Buffer.from(bytes));
    } catch (e) {
      throw new CocoError('INSPECT_TPM_KEY', `the AK is not a PEM public key: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }
  return parseTpm2bPublic(bytes);
}

function pcrFields(banks: RegisterBanks, what: string, rtmr = false): InspectedField[] {
  const out: InspectedField[] = [];
  for (const [bank, regs] of banks) {
    for (const [i, v] of [...regs].sort((a, b) => a[0] - b[0])) {
      out.push(
        rtmr
          ? { name: `RTMR${i}`, value: toHex(v), meaning: `RTMR${i} (CC MR ${i + 1}) ${what}`, references: [`rtmr_${i}`, `tdx_rtmr_${i}`] }
          : { name: `PCR${i}.${bank}`, value: toHex(v), meaning: `PCR ${i} (${bank}) ${what}`, ...(bank === 'sha256' ? { references: [`tpm_pcr${i}`, `pcr${i}`] } : {}) },
      );
    }
  }
  return out;
}

export function inspectTpmQuote(bytes: Uint8Array, o: InspectOptions = {}): Inspection {
  const notes: string[] = [];
  let checks: Check[] = [];
  const extra: InspectedField[] = [];
  let message: Uint8Array;
  let base = 0;
  let form: string;
  const at = tpmAttestOffset(bytes);
  if (at !== undefined) {
    base = at;
    message = bytes.subarray(at);
    form = at === 0 ? 'TPMS_ATTEST' : 'TPM2B_ATTEST';
  } else {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      throw new CocoError('INSPECT_FORMAT', 'not a TPM quote (TPMS_ATTEST, TPM2B_ATTEST or TPM evidence JSON)', { kind: 'input' });
    }
    const ev = tpmEvidenceFromJson(json);
    message = ev.message;
    form = 'json';
    base = 0;
    const pcrs: RegisterBanks = new Map([['sha256', new Map(ev.pcrs.map((v, i) => [i, v]))]]);
    checks = verifyQuote({ attest: ev.message, signature: ev.signature, ak: ev.akPublic, pcrs }).checks;
    extra.push({ name: 'ak_public', value: ev.akPublicB64, meaning: 'the attestation key (DER SubjectPublicKeyInfo); policies compare it with trusted AKs', references: ['trusted_aks'] });
    extra.push({ name: 'signature', value: toHex(ev.signatureBytes), meaning: `TPMT_SIGNATURE by the AK over the quote (${algName(ev.signature.sigAlg)})` });
    extra.push(...pcrFields(pcrs, 'as the evidence reports it (the quote\'s PCR_DIGEST covers it)'));
    if (ev.eventLog) {
      try {
        const log = parseEventLog(ev.eventLog, { what: 'TPM event log' });
        const replay = replayEventLog(log, { banks: ['sha256'] });
        const got = replay.banks.get('sha256') ?? new Map<number, Uint8Array>();
        for (const [i, v] of got) {
          const reported = ev.pcrs[i];
          checks.push(check('eventlog-replay', reported !== undefined && toHex(reported) === toHex(v), `event log replay of PCR ${i} equals the reported value`, { expected: reported ? toHex(reported) : '(not reported)', actual: toHex(v) }));
        }
      } catch (e) {
        if (!(e instanceof CocoError)) throw e;
        notes.push(`event log not replayed: ${e.message}`);
      }
    }
    notes.push('the AK is not checked to belong to a genuine TPM here (that needs its EK certificate or a platform report)');
  }
  const a = parseAttest(message);
  if (form !== 'json') {
    if (o.signature && o.key) {
      checks = verifyQuote({ attest: message, signature: parseSignature(o.signature), ak: loadAk(o.key) }).checks;
      notes.push('PCR values not given: PCR_DIGEST is shown, not checked');
    } else {
      notes.push('signature not checked: give the TPMT_SIGNATURE and the AK public key (PEM or TPM2B_PUBLIC)');
    }
  }
  return {
    format: 'tpm-quote',
    form,
    title: `TPM ${ATTEST_TYPES[a.tag] ?? 'attestation'}${a.attested.type === 'quote' ? ` over ${a.attested.pcrSelect.map((s) => `${s.bank}:${s.pcrs.join(',')}`).join(' ')}` : ''}`,
    fields: [...attestFields(a, base), ...extra],
    checks,
    notes,
  };
}

function eventSummary(log: EventLog, i: number): string {
  const e = log.events[i];
  const d = decodeEvent(e);
  switch (d.kind) {
    case 'string':
      return d.text.length > 120 ? `${d.text.slice(0, 120)}…` : d.text;
    case 'efi-variable':
      return `${d.unicodeName} (${d.variableData.length} bytes)`;
    case 'firmware-blob':
      return d.description ?? `blob at 0x${d.blobBase.toString(16)}, ${d.blobLength} bytes`;
    case 'image-load':
      return `image at 0x${d.imageLocationInMemory.toString(16)}, ${d.imageLengthInMemory} bytes`;
    case 'separator':
      return d.error ? 'separator (error)' : 'separator';
    case 'spec-id':
      return `${d.specId.signature.replace(/\0+$/, '')}: ${d.specId.algorithms.map((x) => x.name).join(', ')}`;
    case 'startup-locality':
      return `startup locality ${d.locality}`;
    case 'gpt':
      return `GPT ${d.diskGuid}, ${d.partitions.length} partitions`;
    case 'handoff-tables':
      return d.description ?? `${d.tables.length} tables`;
    case 'event-tag':
      return d.text ?? `tagged event 0x${d.taggedEventId.toString(16)}`;
    case 'no-action':
      return d.signature ?? 'no action';
    case 'undecodable':
      return `undecodable: ${d.reason}`;
    default:
      return `${e.data.length} bytes`;
  }
}

export function inspectEventLog(bytes: Uint8Array): Inspection {
  const first = parseEventLog(bytes, { what: 'event log', trailing: 'padding' });
  const algs = first.specId?.algorithms.map((a) => a.name) ?? [];
  // A TDX CCEL lists SHA-384 alone and indexes CC measurement registers 1..4 (RTMR0..3).
  const ccel = first.format === 'crypto-agile' && algs.length === 1 && algs[0] === 'sha384' && first.events.every((e) => e.index <= 4);
  const cc = ccel ? replayCcel(bytes) : undefined;
  const log = cc?.log ?? first;
  const fields: InspectedField[] = [];
  const s = log.specId;
  if (s) {
    fields.push({ name: 'SPEC_ID', offset: 32, value: s.signature.replace(/\0+$/, ''), meaning: 'the log header: TCG_EfiSpecIDEvent', flags: { platform_class: s.platformClass, spec_version: `${s.specVersionMajor}.${s.specVersionMinor} errata ${s.specErrata}`, uintn_size: s.uintnSize } });
    fields.push({ name: 'ALGORITHMS', value: s.algorithms.map((a) => `${a.name}(${a.size})`).join(' '), meaning: 'digest banks every event carries' });
  }
  const checks: Check[] = [];
  let badDigests = 0;
  let checked = 0;
  for (let i = 0; i < log.events.length; i++) {
    const e = log.events[i];
    if (i === 0 && s) continue;
    const r = checkEventDigests(e);
    if (r.ok !== undefined) {
      checked++;
      if (!r.ok) {
        badDigests++;
        checks.push(check('event-digest', false, `event ${e.seq} (${e.typeName}) has a ${r.badBanks.join(', ')} digest that is not the digest of its data`));
      }
    }
    const reg = ccel ? `RTMR${e.index - 1}` : `PCR${e.index}`;
    fields.push({
      name: `event[${e.seq}]`,
      offset: e.offset,
      value: `${e.typeName} → ${ccel && e.index === 0 ? 'MRTD' : reg}`,
      meaning: eventSummary(log, i),
      flags: Object.fromEntries(e.digests.map((d) => [d.name, toHex(d.digest)])),
    });
  }
  if (badDigests === 0) checks.push(check('event-digest', true, `the ${checked} events whose digest is defined over their data match it`));
  if (cc) {
    fields.push(...pcrFields(new Map([['sha384', new Map(cc.rtmrs.map((v, i) => [i, v]))]]), "replayed from the log; compare with the quote's RTMR", true));
  } else {
    const r = replayEventLog(log);
    fields.push(...pcrFields(r.banks, 'replayed from the log (PC Client initial values); compare with the quoted PCRs'));
    if (r.skippedBanks.length) fields.push({ name: 'SKIPPED_BANKS', value: r.skippedBanks.join(' '), meaning: 'banks Node cannot hash, not replayed' });
  }
  return {
    format: ccel ? 'ccel-eventlog' : 'tpm-eventlog',
    form: log.format,
    title: `${ccel ? 'TDX CC event log (CCEL)' : 'TCG PC Client event log'}, ${log.format}, ${log.events.length} records${algs.length ? `, banks ${algs.join(' ')}` : ''}`,
    fields,
    checks,
    notes: log.paddingBytes ? [`${log.paddingBytes} bytes of erased padding after the last record`] : [],
  };
}
