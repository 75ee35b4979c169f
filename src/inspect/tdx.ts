/**
 * The inspector's view of an Intel TDX DCAP quote (v4, or v5 with a TDX 1.0 / 1.5 body; specs/tdx-initdata.md
 * §1): the header, every TD report field with its offset and meaning (TDATTRIBUTES and XFAM decoded), the
 * signature data with the QE report and the PCK certificate, then the collateral-free checks `tdx verify`
 * makes. The TCB status needs Intel's collateral (TCB info, QE identity, CRLs) and is not evaluated here.
 */
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { isRecord, parseJson } from '../formats/json.js';
import {
  BODY_FIELDS,
  BODY_SIZE,
  HEADER_FIELDS,
  QE_REPORT_FIELDS,
  bodyOffset,
  checkCcelReplay,
  decodeTdAttributes,
  evidenceFromJson,
  parseQuote,
  pckExtensions,
  quotePckChain,
  replayCcel,
  u64le,
  verifyQuote,
  type TdxQuote,
} from '../tee/tdx/index.js';
import type { InspectedField, Inspection, InspectOptions } from './types.js';

const HEADER_MEANING: Record<string, [string, string]> = {
  version: ['VERSION', 'quote format version (4, or 5 with a typed body)'],
  attKeyType: ['ATT_KEY_TYPE', 'attestation key type (2: ECDSA P-256)'],
  teeType: ['TEE_TYPE', 'TEE the quote is for (0x81: TDX)'],
  reserved: ['RESERVED', 'reserved for TDX'],
  qeVendorId: ['QE_VENDOR_ID', 'vendor of the Quoting Enclave (Intel: 939a7233…)'],
  userData: ['USER_DATA', 'data the Quoting Enclave chose (the first 16 bytes: QE id)'],
};

const BODY_MEANING: Record<string, [string, string, string[]?]> = {
  teeTcbSvn: ['TEE_TCB_SVN', 'security versions of the TDX module; compared with the TCB info'],
  mrSeam: ['MRSEAM', 'measurement of the TDX module', ['mr_seam', 'tdx_mr_seam']],
  mrSignerSeam: ['MRSIGNERSEAM', 'signer of the TDX module (zero for Intel)'],
  seamAttributes: ['SEAM_ATTRIBUTES', 'attributes of the TDX module (zero in production)'],
  tdAttributes: ['TD_ATTRIBUTES', 'TD attributes; DEBUG set means the host can read the TD'],
  xfam: ['XFAM', 'extended CPU features (XSAVE) the TD may use', ['xfam', 'tdx_xfam']],
  mrTd: ['MRTD', 'build-time measurement of the TD (firmware image); compared with the reference value', ['mr_td', 'tdx_mr_td']],
  mrConfigId: ['MRCONFIGID', 'software-defined id set at launch; CoCo binds the init-data digest here', ['mr_config_id', 'tdx_mr_config_id']],
  mrOwner: ['MROWNER', 'software-defined id of the TD owner'],
  mrOwnerConfig: ['MROWNERCONFIG', 'software-defined id of the owner configuration'],
  rtmr0: ['RTMR0', 'runtime measurement register 0: firmware configuration (CCEL index 1)', ['rtmr_0', 'tdx_rtmr_0']],
  rtmr1: ['RTMR1', 'runtime measurement register 1: OS loader and kernel (CCEL index 2)', ['rtmr_1', 'tdx_rtmr_1']],
  rtmr2: ['RTMR2', 'runtime measurement register 2: kernel command line and initrd (CCEL index 3)', ['rtmr_2', 'tdx_rtmr_2']],
  rtmr3: ['RTMR3', 'runtime measurement register 3: extended by the guest at run time (CCEL index 4)', ['rtmr_3', 'tdx_rtmr_3']],
  reportData: ['REPORT_DATA', '64 bytes the TD chose; CoCo puts the hash of the nonce and the TEE public key here'],
  teeTcbSvn2: ['TEE_TCB_SVN2', 'TDX 1.5: security versions of the TDX module after an update'],
  mrServiceTd: ['MRSERVICETD', 'TDX 1.5: measurement of the bound service TDs'],
};

const QE_MEANING: Record<string, string> = {
  cpuSvn: 'security version of the CPU the QE ran on',
  miscSelect: 'SGX MISCSELECT of the QE',
  isvExtProdId: 'extended product id of the QE',
  attributes: 'SGX attributes of the QE',
  mrEnclave: 'measurement of the Quoting Enclave',
  mrSigner: 'hash of the key that signed the QE (compared with the QE identity)',
  configId: 'config id of the QE',
  isvProdId: 'product id of the QE (2: TD QE)',
  isvSvn: 'security version of the QE (compared with the QE identity)',
  configSvn: 'config security version of the QE',
  isvFamilyId: 'family id of the QE',
  reportData: 'SHA-256(attestation key ‖ QE auth data), zero-padded: binds the attestation key to the QE',
};

/** XSAVE feature bits of XFAM (Intel SDM vol. 1 §13.1). */
const XFAM_BITS: Array<[number, string]> = [
  [0, 'x87'],
  [1, 'sse'],
  [2, 'avx'],
  [3, 'mpx_bndregs'],
  [4, 'mpx_bndcsr'],
  [5, 'avx512_opmask'],
  [6, 'avx512_zmm_hi256'],
  [7, 'avx512_hi16_zmm'],
  [8, 'pt'],
  [9, 'pkru'],
  [10, 'pasid'],
  [11, 'cet_u'],
  [12, 'cet_s'],
  [13, 'hdc'],
  [14, 'uli'],
  [15, 'lbr'],
  [16, 'hwp'],
  [17, 'amx_tilecfg'],
  [18, 'amx_tiledata'],
];

export function decodeXfam(bytes: Uint8Array): Record<string, boolean> {
  const raw = u64le(bytes);
  return Object.fromEntries(XFAM_BITS.map(([bit, name]) => [name, ((raw >> BigInt(bit)) & 1n) === 1n]));
}

/** A TD quote's first bytes: version 4 or 5, attestation key type 2, TEE type 0x81. */
export function looksLikeTdxQuote(b: Uint8Array): boolean {
  return b.length >= 8 && (b[0] === 4 || b[0] === 5) && b[1] === 0 && b[2] === 2 && b[3] === 0 && b[4] === 0x81 && b[5] === 0 && b[6] === 0 && b[7] === 0;
}

interface LoadedQuote {
  raw: Uint8Array;
  quote: TdxQuote;
  form: 'raw' | 'hex' | 'json';
  ccEventLog: Uint8Array | null;
}

/** Raw quote bytes, their hex, or the CoCo TDX evidence JSON (`{"quote", "cc_eventlog"}`). */
export function loadTdxQuote(bytes: Uint8Array): LoadedQuote {
  if (looksLikeTdxQuote(bytes)) return { raw: bytes, quote: parseQuote(bytes), form: 'raw', ccEventLog: null };
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (text.startsWith('{')) {
    const ev = evidenceFromJson(parseJson(text, 'TDX evidence JSON'));
    return { raw: ev.quote, quote: parseQuote(ev.quote), form: 'json', ccEventLog: ev.ccEventLog };
  }
  const hex = text.replace(/\s+/g, '');
  if (/^[0-9a-fA-F]+$/.test(hex) && hex.length % 2 === 0) {
    const raw = fromHex(hex, 'hex TDX quote');
    if (looksLikeTdxQuote(raw)) return { raw, quote: parseQuote(raw), form: 'hex', ccEventLog: null };
  }
  throw new CocoError('TDX_QUOTE_FORM', 'not a TDX quote: expected a v4/v5 TD quote (raw or hex) or the CoCo TDX evidence JSON', { kind: 'input' });
}

/** Does this JSON text look like TDX evidence (a `quote` member)? */
export function isTdxEvidenceJson(v: unknown): boolean {
  return isRecord(v) && typeof v.quote === 'string';
}

function valueText(v: number | Uint8Array | null): string {
  if (v === null) return '(absent in this body type)';
  if (typeof v === 'number') return String(v);
  return toHex(v);
}

export function inspectTdxQuote(bytes: Uint8Array, o: InspectOptions = {}): Inspection {
  const { raw, quote: q, form, ccEventLog } = loadTdxQuote(bytes);
  const fields: InspectedField[] = [];
  const h = q.header as unknown as Record<string, number | Uint8Array>;
  for (const f of HEADER_FIELDS) {
    const [name, meaning] = HEADER_MEANING[f.name];
    const value = f.name === 'teeType' ? `0x${(h[f.name] as number).toString(16)}` : valueText(h[f.name]);
    fields.push({ name, offset: f.off, size: f.size, value, meaning });
  }
  if (q.header.version === 5) {
    fields.push({ name: 'BODY_TYPE', offset: 48, size: 2, value: String(q.bodyType), meaning: 'v5 body type (2: TDX 1.0 TD report, 3: TDX 1.5 TD report)' });
    fields.push({ name: 'BODY_SIZE', offset: 50, size: 4, value: String(BODY_SIZE[q.bodyType]), meaning: 'size of the TD report body' });
  }
  const base = bodyOffset(q.header.version);
  const b = q.body as unknown as Record<string, Uint8Array | null>;
  for (const f of BODY_FIELDS) {
    if (f.since !== undefined && q.bodyType < f.since) continue;
    const [name, meaning, references] = BODY_MEANING[f.name];
    const v = b[f.name];
    let flags: InspectedField['flags'];
    if (f.name === 'tdAttributes' && v) {
      const a = decodeTdAttributes(v);
      flags = { debug: a.debug, tud_reserved: a.tudReserved, sept_ve_disable: a.septVeDisable, pks: a.protectionKeys, kl: a.keyLocker, perfmon: a.perfmon, reserved: `0x${a.reserved.toString(16)}` };
    } else if (f.name === 'xfam' && v) {
      flags = decodeXfam(v);
    }
    fields.push({ name, offset: base + f.off, size: f.size, value: valueText(v), meaning, ...(flags ? { flags } : {}), ...(references ? { references } : {}) });
  }
  const sigAt = base + BODY_SIZE[q.bodyType];
  const s = q.signatureData;
  const sigLen = 128 + 6 + 384 + 64 + 2 + s.qeAuthData.length + 6 + s.certification.data.length;
  fields.push({ name: 'SIGNATURE_DATA_LEN', offset: sigAt, size: 4, value: String(sigLen), meaning: 'length of the signature data that follows' });
  const sd = sigAt + 4;
  fields.push({ name: 'QUOTE_SIGNATURE', offset: sd, size: 64, value: toHex(s.signature), meaning: 'ECDSA P-256 r‖s by the attestation key over the header and body' });
  fields.push({ name: 'ATTESTATION_KEY', offset: sd + 64, size: 64, value: toHex(s.attestationKey), meaning: 'attestation public key X‖Y, certified by the QE report' });
  fields.push({ name: 'CERTIFICATION_DATA_TYPE', offset: sd + 128, size: 2, value: '6', meaning: 'certification data type (6: QE report certification data)' });
  const qeAt = sd + 134;
  const qe = s.qeReport as unknown as Record<string, number | Uint8Array>;
  for (const f of QE_REPORT_FIELDS) {
    const meaning = QE_MEANING[f.name];
    if (!meaning) continue; // reserved ranges
    fields.push({ name: `QE_REPORT.${f.name.replace(/([A-Z])/g, '_$1').toUpperCase()}`, offset: qeAt + f.off, size: f.size, value: valueText(qe[f.name]), meaning });
  }
  fields.push({ name: 'QE_REPORT_SIGNATURE', offset: qeAt + 384, size: 64, value: toHex(s.qeReportSignature), meaning: 'ECDSA P-256 r‖s by the PCK leaf key over the QE report' });
  fields.push({ name: 'QE_AUTH_DATA', offset: qeAt + 450, size: s.qeAuthData.length, value: toHex(s.qeAuthData), meaning: 'data the QE hashed into its report data with the attestation key' });
  const certAt = qeAt + 450 + s.qeAuthData.length;
  fields.push({ name: 'PCK_CERT_DATA_TYPE', offset: certAt, size: 2, value: String(s.certification.type), meaning: 'nested certification data type (5: PEM PCK certificate chain)' });
  fields.push({ name: 'PCK_CERT_DATA_SIZE', offset: certAt + 2, size: 4, value: String(s.certification.data.length), meaning: 'size of the PCK certificate chain' });
  const notes: string[] = [];
  try {
    const e = pckExtensions(quotePckChain(q)[0]);
    fields.push({
      name: 'PCK.SGX_EXTENSION',
      value: `fmspc ${toHex(e.fmspc)}`,
      meaning: 'Intel SGX extension of the PCK leaf certificate: platform family, PCE and TCB the certificate was issued for',
      flags: { fmspc: toHex(e.fmspc), pceid: toHex(e.pceId), pcesvn: e.tcb.pceSvn, sgx_tcb: e.tcb.sgxComponents.join(','), ca: e.platformInstanceId ? 'platform' : 'processor' },
    });
  } catch (err) {
    if (!(err instanceof CocoError)) throw err;
    notes.push(`PCK certificate not read: ${err.message}`);
  }
  if (q.trailing.length) notes.push(`${q.trailing.length} byte(s) after the signature data (a fixed-size quote buffer); not signed, ignored`);
  let checks: Inspection['checks'] = [];
  try {
    checks = verifyQuote(q, { now: o.now ?? new Date(), raw }).checks;
  } catch (err) {
    if (!(err instanceof CocoError)) throw err;
    notes.push(`not verified: ${err.message}`);
  }
  if (ccEventLog) {
    try {
      const replay = replayCcel(ccEventLog);
      replay.rtmrs.forEach((v, i) => fields.push({ name: `CCEL.RTMR${i}`, value: toHex(v), meaning: `RTMR${i} replayed from the ${replay.log.events.length} events of the CC event log` }));
      checks.push(...checkCcelReplay(replay, q.body));
    } catch (err) {
      if (!(err instanceof CocoError)) throw err;
      notes.push(`CC event log not replayed: ${err.message}`);
    }
  }
  notes.push('TCB status not evaluated: that needs Intel collateral (TCB info, QE identity, PCK and root CRLs), e.g. `cocokit tdx verify --collateral`');
  const attrs = decodeTdAttributes(q.body.tdAttributes);
  return {
    format: 'tdx-quote',
    form,
    title: `Intel TDX quote v${q.header.version} (TDX ${q.bodyType === 3 ? '1.5' : '1.0'} TD report${attrs.debug ? ', DEBUG TD' : ''})`,
    fields,
    checks,
    notes,
  };
}
