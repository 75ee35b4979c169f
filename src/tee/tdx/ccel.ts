/**
 * The Confidential Computing Event Log of a TD (specs/tdx-initdata.md §4.2): the ACPI `CCEL` table that
 * locates the log area, and the log itself — a TCG crypto-agile log (parsed by `src/eventlog`) whose
 * indices are CC measurement registers: 1 → RTMR0 … 4 → RTMR3 (0 = MRTD is never logged). Replaying it
 * with SHA-384 from all-zero registers must give the quote's RTMRs (Trustee `tdx/mod.rs`, go-tdx-guest
 * `rtmr/ccel.go`).
 */
import { CocoError } from '../../errors.js';
import { bytesEqual, toBase64, toHex } from '../../formats/bytes.js';
import { check, type Check } from '../../formats/check.js';
import { ByteReader, ByteWriter } from '../../formats/reader.js';
import { decodeEvent, digestWith, formatGuid, hashAlgorithmById, parseEventLog, replayEventLog, zeroInitialValues, type EventLog } from '../../eventlog/index.js';
import { rtmrs, type TdReportBody } from './format.js';

/** ACPI CCEL table (ACPI 6.5 §5.2.34): the 36-byte ACPI header then CC type, subtype, LAML and LASA. */
export interface CcelTable {
  length: number;
  revision: number;
  checksum: number;
  oemId: string;
  oemTableId: string;
  oemRevision: number;
  creatorId: number;
  creatorRevision: number;
  /** 2 = Intel TDX. */
  ccType: number;
  ccSubtype: number;
  reserved: number;
  /** Log area minimum length and start address (guest-physical). */
  laml: bigint;
  lasa: bigint;
}

export const CCEL_TABLE_SIZE = 56;
export const CC_TYPE_TDX = 2;

function bad(message: string): never {
  throw new CocoError('TDX_CCEL', `CCEL: ${message}`, { kind: 'input' });
}

/** Parses the ACPI CCEL table (`/sys/firmware/acpi/tables/CCEL`), checking signature, length and checksum. */
export function parseCcelTable(bytes: Uint8Array): CcelTable {
  if (bytes.length !== CCEL_TABLE_SIZE) bad(`table is ${bytes.length} bytes, expected ${CCEL_TABLE_SIZE}`);
  const r = new ByteReader(bytes, 'CCEL table');
  if (Buffer.from(r.take(4)).toString('latin1') !== 'CCEL') bad('signature is not "CCEL"');
  const t: CcelTable = {
    length: r.u32le(),
    revision: r.u8(),
    checksum: r.u8(),
    oemId: Buffer.from(r.take(6)).toString('latin1'),
    oemTableId: Buffer.from(r.take(8)).toString('latin1'),
    oemRevision: r.u32le(),
    creatorId: r.u32le(),
    creatorRevision: r.u32le(),
    ccType: r.u8(),
    ccSubtype: r.u8(),
    reserved: r.u16le(),
    laml: r.u64le(),
    lasa: r.u64le(),
  };
  if (t.length !== bytes.length) bad(`header length ${t.length} differs from the ${bytes.length} bytes given`);
  // ACPI: all bytes of the table sum to zero modulo 256.
  if (bytes.reduce((s, b) => (s + b) & 0xff, 0) !== 0) bad('checksum does not sum the table to zero');
  return t;
}

export function serializeCcelTable(t: CcelTable): Uint8Array {
  const text = (s: string, n: number): Uint8Array => {
    const b = Buffer.from(s, 'latin1');
    if (b.length !== n) bad(`field of ${n} characters expected, got ${JSON.stringify(s)}`);
    return new Uint8Array(b);
  };
  return new ByteWriter(CCEL_TABLE_SIZE)
    .bytes(text('CCEL', 4))
    .u32le(t.length)
    .u8(t.revision)
    .u8(t.checksum)
    .bytes(text(t.oemId, 6))
    .bytes(text(t.oemTableId, 8))
    .u32le(t.oemRevision)
    .u32le(t.creatorId)
    .u32le(t.creatorRevision)
    .u8(t.ccType)
    .u8(t.ccSubtype)
    .u16le(t.reserved)
    .u64le(t.laml)
    .u64le(t.lasa)
    .finish();
}

export interface CcelReplay {
  log: EventLog;
  /** RTMR0..3 replayed from zero with SHA-384. */
  rtmrs: Uint8Array[];
}

/** Parses the CCEL log area (erased tail allowed) and replays it into RTMR0..3. */
export function replayCcel(data: Uint8Array): CcelReplay {
  const log = parseEventLog(data, { what: 'CCEL log', trailing: 'padding' });
  if (log.format !== 'crypto-agile' || !log.specId?.algorithms.some((a) => a.alg === 0x000c)) bad('the log is not a crypto-agile log with a SHA-384 bank');
  const r = replayEventLog(log, { banks: ['sha384'], register: (e) => (e.index >= 1 && e.index <= 4 ? e.index - 1 : undefined), initial: zeroInitialValues });
  const bank = r.banks.get('sha384');
  const out = [0, 1, 2, 3].map((i) => bank?.get(i) ?? new Uint8Array(48));
  return { log, rtmrs: out };
}

/** One check per RTMR: the replayed log must equal the quote (Trustee compares all four). */
export function checkCcelReplay(replay: CcelReplay, body: TdReportBody): Check[] {
  const quoted = rtmrs(body);
  return replay.rtmrs.map((v, i) =>
    check('ccel-replay', bytesEqual(v, quoted[i]), `CCEL replay of CC MR ${i + 1} equals the quote's RTMR${i}`, { expected: toHex(quoted[i]), actual: toHex(v) }),
  );
}

/**
 * The nodes of a UEFI device path as text, enough for policies that look for the loaded image's file name
 * (Trustee's default policy checks `"File(kernel)" in details.device_paths`): media file paths, vendor
 * media and firmware-volume nodes by name, others as `Path(type,subtype)`. Stops at the end node or at a
 * malformed length.
 */
export function devicePathNodes(path: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= path.length; ) {
    const type = path[at];
    const sub = path[at + 1];
    const len = path[at + 2] | (path[at + 3] << 8);
    if (type === 0x7f || len < 4 || at + len > path.length) break;
    const body = path.subarray(at + 4, at + len);
    if (type === 4 && sub === 4) out.push(`File(${Buffer.from(body).toString('utf16le').replace(/\0+$/, '')})`);
    else if (type === 4 && sub === 3 && body.length >= 16) out.push(`VenMedia(${formatGuid(body.subarray(0, 16))})`);
    else if (type === 4 && sub === 6 && body.length >= 16) out.push(`FvFile(${formatGuid(body.subarray(0, 16))})`);
    else if (type === 4 && sub === 7 && body.length >= 16) out.push(`Fv(${formatGuid(body.subarray(0, 16))})`);
    else out.push(`Path(${type},${sub})`);
    at += len;
  }
  return out;
}

/** Trustee's `uefi_event_logs` claim: every extended event with its SHA-384 digest, data and decoded details. */
function digestOf(algId: number, data: Uint8Array, digest: Uint8Array): boolean {
  const alg = hashAlgorithmById(algId);
  return alg?.node !== undefined && bytesEqual(digestWith(alg, data), digest);
}

export function uefiEventLogClaims(log: EventLog): Array<Record<string, unknown>> {
  return log.events
    .filter((e) => e.index >= 1 && e.index <= 4 && e.typeName !== 'EV_NO_ACTION')
    .map((e) => {
      const d = decodeEvent(e);
      const details: Record<string, unknown> = {};
      if (d.kind === 'string') details.string = d.text;
      if (d.kind === 'event-tag' && d.text !== undefined) details.string = d.text;
      if (d.kind === 'firmware-blob' && d.description !== undefined) details.string = d.description;
      if (d.kind === 'efi-variable') details.unicode_name = d.unicodeName;
      if (d.kind === 'image-load') details.device_paths = devicePathNodes(d.devicePath);
      // Trustee's flag for events whose digest is the hash of their own data (actions, separators, driver-config
      // variables), i.e. whose logged data can be trusted as what was measured; every logged bank must agree.
      const digestMatchesEvent = e.digests.length > 0 && e.digests.every((g) => digestOf(g.alg, e.data, g.digest));
      return {
        index: e.index,
        type_name: e.typeName,
        digest_matches_event: digestMatchesEvent,
        digests: e.digests.map((g) => ({ alg: g.name === 'sha384' ? 'SHA-384' : g.name.toUpperCase(), digest: toHex(g.digest) })),
        event: toBase64(e.data),
        details,
      };
    });
}
