/**
 * TPMS_ATTEST (Part 2 §10.12.12, specs/measured-boot.md §3.2): the message a TPM signs for TPM2_Quote,
 * TPM2_Certify and friends. Parsing only: `quote.ts` verifies.
 */
import { toHex } from '../formats/bytes.js';
import { TPM_GENERATED_VALUE, TPM_ST_ATTEST } from './constants.js';
import { readPcrSelection, writePcrSelection, type PcrSelection } from './pcr-selection.js';
import { parseWith, tpmFormatError, TpmWriter, type TpmReader } from './wire.js';

export interface ClockInfo {
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

export interface QuoteInfo {
  type: 'quote';
  pcrSelect: PcrSelection[];
  pcrDigest: Uint8Array;
}
export interface CertifyInfo {
  type: 'certify';
  /** Name of the certified object (nameAlg ‖ digest of its TPMT_PUBLIC). */
  name: Uint8Array;
  qualifiedName: Uint8Array;
}
/** Attestation types this project does not interpret; their body is kept raw. */
export interface OtherAttestInfo {
  type: 'other';
  tag: number;
  body: Uint8Array;
}
export type AttestInfo = QuoteInfo | CertifyInfo | OtherAttestInfo;

export interface TpmsAttest {
  magic: number;
  /** TPM_ST_ATTEST_* tag. */
  tag: number;
  qualifiedSigner: Uint8Array;
  /** The caller's qualifyingData, verbatim (the nonce). */
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  /** Obfuscated for keys outside the endorsement/platform hierarchies: never a policy input (§3.2). */
  firmwareVersion: bigint;
  attested: AttestInfo;
}

/** Per attestation tag, how its union member is read (Part 2 §10.12.11, TPMU_ATTEST). */
const BODIES: Record<number, (r: TpmReader) => AttestInfo> = {
  [TPM_ST_ATTEST.QUOTE]: (r) => ({ type: 'quote', pcrSelect: readPcrSelection(r), pcrDigest: r.tpm2b('pcrDigest', 64) }),
  [TPM_ST_ATTEST.CERTIFY]: (r) => ({ type: 'certify', name: r.tpm2b('name', 68), qualifiedName: r.tpm2b('qualifiedName', 68) }),
};

/**
 * Parses TPMS_ATTEST bytes (the contents of a TPM2B_ATTEST, without its size).
 * @throws CocoError TPM_FORMAT: truncation, a magic other than TPM_GENERATED_VALUE, an unknown tag, or
 *   bytes after the structure
 */
export function parseAttest(bytes: Uint8Array): TpmsAttest {
  return parseWith(bytes, 'TPMS_ATTEST', (r) => {
    const magic = r.u32be();
    if (magic !== TPM_GENERATED_VALUE) throw tpmFormatError(r.what, `magic 0x${magic.toString(16)} is not TPM_GENERATED_VALUE (0xff544347)`);
    const tag = r.u16be();
    if (!Object.values<number>(TPM_ST_ATTEST).includes(tag)) throw tpmFormatError(r.what, `type 0x${tag.toString(16)} is not an attestation structure tag`);
    const qualifiedSigner = r.tpm2b('qualifiedSigner', 68);
    // TPM2B_DATA holds a TPMT_HA at most (2 + 64 bytes).
    const extraData = r.tpm2b('extraData', 66);
    const clockInfo: ClockInfo = { clock: r.u64be(), resetCount: r.u32be(), restartCount: r.u32be(), safe: r.u8() !== 0 };
    const firmwareVersion = r.u64be();
    const body = BODIES[tag];
    const attested = body !== undefined ? body(r) : ({ type: 'other', tag, body: r.take(r.remaining) } as OtherAttestInfo);
    r.end();
    return { magic, tag, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested };
  });
}

/** Marshals TPMS_ATTEST (the inverse of `parseAttest`, for tests and tools that build quotes). */
export function encodeAttest(a: TpmsAttest): Uint8Array {
  const w = new TpmWriter();
  w.u32be(a.magic).u16be(a.tag).tpm2b(a.qualifiedSigner).tpm2b(a.extraData);
  w.u64be(a.clockInfo.clock).u32be(a.clockInfo.resetCount).u32be(a.clockInfo.restartCount).u8(a.clockInfo.safe ? 1 : 0);
  w.u64be(a.firmwareVersion);
  const x = a.attested;
  if (x.type === 'quote') {
    writePcrSelection(w, x.pcrSelect, x.pcrSelect[0]?.sizeofSelect ?? 3);
    w.tpm2b(x.pcrDigest);
  } else if (x.type === 'certify') w.tpm2b(x.name).tpm2b(x.qualifiedName);
  else w.bytes(x.body);
  return w.finish();
}

/** A JSON-friendly view (hex bytes, decimal clock), as `tpm2_print -t TPMS_ATTEST` shows it. */
export function attestToJson(a: TpmsAttest): Record<string, unknown> {
  const x = a.attested;
  return {
    magic: `0x${a.magic.toString(16)}`,
    type: `0x${a.tag.toString(16)}`,
    qualifiedSigner: toHex(a.qualifiedSigner),
    extraData: toHex(a.extraData),
    clockInfo: { clock: a.clockInfo.clock.toString(), resetCount: a.clockInfo.resetCount, restartCount: a.clockInfo.restartCount, safe: a.clockInfo.safe },
    firmwareVersion: `0x${a.firmwareVersion.toString(16).padStart(16, '0')}`,
    attested:
      x.type === 'quote'
        ? { quote: { pcrSelect: x.pcrSelect.map((s) => ({ hash: s.bank, pcrs: s.pcrs })), pcrDigest: toHex(x.pcrDigest) } }
        : x.type === 'certify'
          ? { certify: { name: toHex(x.name), qualifiedName: toHex(x.qualifiedName) } }
          : { other: toHex(x.body) },
  };
}
