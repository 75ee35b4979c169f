/**
 * TCG event logs as firmware writes them (specs/measured-boot.md §3.7): the crypto-agile PC Client PFP
 * format (a SHA-1 style header record carrying `Spec ID Event03`, then `TCG_PCR_EVENT2` records with one
 * digest per bank) and the legacy TCG 1.2 SHA-1 format (`TCG_PCR_EVENT` records). Intel TDX's CCEL uses the
 * crypto-agile format too, with measurement-register indices in place of PCR indices; nothing here assumes
 * which registers the indices name (see `replay.ts`).
 *
 * Parsing does no hashing: every event keeps its raw data and digests, and `decode.ts` interprets data.
 */
import { CocoError } from '../errors.js';
import { ByteReader } from '../formats/reader.js';
import { hashAlgorithmName } from './algorithms.js';
import { EV_NO_ACTION, eventTypeName } from './event-types.js';

export type EventLogFormat = 'crypto-agile' | 'legacy-sha1';

/** One digest of an event: the bank's TPM_ALG_ID, its tpm2-tools name, and the bytes. */
export interface EventDigest {
  alg: number;
  name: string;
  digest: Uint8Array;
}

export interface SpecIdAlgorithm {
  alg: number;
  name: string;
  size: number;
}

/** `TCG_EfiSpecIDEvent` (PFP §10.4.5.1), the header of a crypto-agile log; `Spec ID Event02` logs have one too. */
export interface SpecIdEvent {
  signature: string;
  platformClass: number;
  specVersionMinor: number;
  specVersionMajor: number;
  specErrata: number;
  uintnSize: number;
  algorithms: SpecIdAlgorithm[];
  vendorInfo: Uint8Array;
}

export interface LogEvent {
  /** Position in the log, 0 = the first record (the Spec ID header in a crypto-agile log). */
  seq: number;
  /** Byte offset of the record in the log. */
  offset: number;
  /** PCRIndex as written in the log (a measurement-register index in a CCEL). */
  index: number;
  type: number;
  typeName: string;
  digests: EventDigest[];
  data: Uint8Array;
}

export interface EventLog {
  format: EventLogFormat;
  /** Present for crypto-agile logs, and for legacy logs that start with a `Spec ID Event02` header. */
  specId?: SpecIdEvent;
  /** Every record in order, the header record included. */
  events: LogEvent[];
  /** Bytes after the last record that were accepted as padding (`trailing: 'padding'`), else 0. */
  paddingBytes: number;
}

export interface ParseEventLogOptions {
  /** Name used in error messages. */
  what?: string;
  /**
   * What may follow the last record. `'error'` (default) rejects any byte that is not a whole record;
   * `'padding'` stops at the first record header that is all 0x00 or all 0xFF, as a CCEL's ACPI area is
   * reserved larger than the log and left erased.
   */
  trailing?: 'error' | 'padding';
  /** Upper bound on one event's data (default 16 MiB); larger sizes are rejected before allocating. */
  maxEventSize?: number;
}

const SPEC_ID_03 = 'Spec ID Event03\0';
const SPEC_ID_02 = 'Spec ID Event02\0';
const LEGACY_HEADER_SIZE = 32; // PCRIndex, EventType, Digest[20], EventSize

function fail(what: string, offset: number, message: string): CocoError {
  return new CocoError('EVENTLOG_FORMAT', `${what}: ${message} (at byte ${offset})`, { kind: 'input', detail: { offset } });
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/**
 * `TCG_EfiSpecIDEvent` from an event's data (PFP §10.4.5.1).
 * @throws CocoError EVENTLOG_FORMAT: truncated, an algorithm listed twice, or a digest size of 0 or above 64
 */
export function parseSpecIdEvent(data: Uint8Array, what = 'Spec ID event'): SpecIdEvent {
  const r = new ByteReader(data, what);
  try {
    const signature = ascii(r.take(16));
    const platformClass = r.u32le();
    const specVersionMinor = r.u8();
    const specVersionMajor = r.u8();
    const specErrata = r.u8();
    const uintnSize = r.u8();
    const algorithms: SpecIdAlgorithm[] = [];
    if (signature === SPEC_ID_03) {
      const n = r.u32le();
      // Each entry is 4 bytes, so a count beyond what the data holds is a truncation, found before allocating.
      if (n * 4 > r.remaining) throw fail(what, r.offset, `numberOfAlgorithms ${n} exceeds the event data`);
      const seen = new Set<number>();
      for (let i = 0; i < n; i++) {
        const alg = r.u16le();
        const size = r.u16le();
        if (seen.has(alg)) throw fail(what, r.offset - 4, `algorithm ${hashAlgorithmName(alg)} listed twice`);
        if (size === 0 || size > 64) throw fail(what, r.offset - 2, `algorithm ${hashAlgorithmName(alg)} has digest size ${size}`);
        seen.add(alg);
        algorithms.push({ alg, name: hashAlgorithmName(alg), size });
      }
      if (n === 0) throw fail(what, r.offset, 'a crypto-agile log lists no algorithm');
    }
    let vendorInfo: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
    if (r.remaining > 0) vendorInfo = r.take(r.u8());
    return { signature: signature.replace(/\0+$/, ''), platformClass, specVersionMinor, specVersionMajor, specErrata, uintnSize, algorithms, vendorInfo };
  } catch (e) {
    if (e instanceof CocoError && e.code === 'FORMAT_TRUNCATED') throw new CocoError('EVENTLOG_FORMAT', e.message, { kind: 'input', cause: e });
    throw e;
  }
}

function isErased(bytes: Uint8Array): boolean {
  const first = bytes[0];
  if (first !== 0x00 && first !== 0xff) return false;
  return bytes.every((b) => b === first);
}

/**
 * Parses a TCG event log, telling the format from its first record (EV_NO_ACTION carrying
 * `Spec ID Event03` → crypto-agile, anything else → legacy SHA-1).
 * @throws CocoError EVENTLOG_FORMAT (kind `input`): an empty or truncated log, a record whose digest list
 *   names an algorithm missing from the Spec ID header, a digest count other than the header's, an event
 *   larger than `maxEventSize`, or trailing bytes that are not a record
 */
export function parseEventLog(bytes: Uint8Array, options: ParseEventLogOptions = {}): EventLog {
  const what = options.what ?? 'event log';
  const maxEventSize = options.maxEventSize ?? 16 * 1024 * 1024;
  const r = new ByteReader(bytes, what);
  if (bytes.length < LEGACY_HEADER_SIZE) throw fail(what, 0, `${bytes.length} bytes is too short for an event record`);
  const events: LogEvent[] = [];

  const readData = (): Uint8Array => {
    const at = r.offset;
    const size = r.u32le();
    if (size > maxEventSize) throw fail(what, at, `event size ${size} exceeds the limit of ${maxEventSize}`);
    if (size > r.remaining) throw fail(what, at, `event size ${size} exceeds the ${r.remaining} bytes left`);
    return r.take(size);
  };
  const readLegacy = (): LogEvent => {
    const offset = r.offset;
    const index = r.u32le();
    const type = r.u32le();
    const digest = r.take(20);
    const data = readData();
    return { seq: events.length, offset, index, type, typeName: eventTypeName(type), digests: [{ alg: 0x0004, name: 'sha1', digest }], data };
  };

  try {
    const first = readLegacy();
    events.push(first);
    let specId: SpecIdEvent | undefined;
    if (first.type === EV_NO_ACTION && first.data.length >= 16) {
      const sig = ascii(first.data.subarray(0, 16));
      if (sig === SPEC_ID_03 || sig === SPEC_ID_02) specId = parseSpecIdEvent(first.data, `${what} Spec ID header`);
    }
    const agile = specId !== undefined && specId.algorithms.length > 0;
    const sizes = new Map((specId?.algorithms ?? []).map((a) => [a.alg, a.size]));
    let paddingBytes = 0;

    while (r.remaining > 0) {
      const headerLen = agile ? 12 : LEGACY_HEADER_SIZE;
      if (options.trailing === 'padding' && isErased(r.bytes.subarray(r.offset, r.offset + Math.min(headerLen, r.remaining)))) {
        paddingBytes = r.remaining;
        break;
      }
      if (!agile) {
        events.push(readLegacy());
        continue;
      }
      const offset = r.offset;
      const index = r.u32le();
      const type = r.u32le();
      const count = r.u32le();
      // PFP §10.2.2: a TCG_PCR_EVENT2 carries one digest per algorithm of the Spec ID header.
      if (count !== sizes.size) throw fail(what, offset + 8, `record ${events.length} has ${count} digests, the Spec ID header lists ${sizes.size} algorithms`);
      const digests: EventDigest[] = [];
      for (let i = 0; i < count; i++) {
        const at = r.offset;
        const alg = r.u16le();
        const size = sizes.get(alg);
        if (size === undefined) throw fail(what, at, `record ${events.length} uses algorithm ${hashAlgorithmName(alg)}, which the Spec ID header does not list`);
        if (digests.some((d) => d.alg === alg)) throw fail(what, at, `record ${events.length} carries ${hashAlgorithmName(alg)} twice`);
        digests.push({ alg, name: hashAlgorithmName(alg), digest: r.take(size) });
      }
      const data = readData();
      events.push({ seq: events.length, offset, index, type, typeName: eventTypeName(type), digests, data });
    }
    return { format: agile ? 'crypto-agile' : 'legacy-sha1', ...(specId === undefined ? {} : { specId }), events, paddingBytes };
  } catch (e) {
    if (e instanceof CocoError && e.code === 'FORMAT_TRUNCATED') {
      throw new CocoError('EVENTLOG_FORMAT', `${what}: record ${events.length} is truncated`, { kind: 'input', cause: e, detail: e.detail });
    }
    throw e;
  }
}
