/**
 * Writing event logs, the inverse of `parse.ts`: firmware-format bytes from events, so that tests and the
 * guest tooling can build a log and extend a TPM with exactly the same events (specs/measured-boot.md §3.7).
 */
import { CocoError } from '../errors.js';
import { ByteWriter } from '../formats/reader.js';
import { EV_NO_ACTION } from './event-types.js';
import type { SpecIdEvent } from './parse.js';

/** The header fields a writer needs: the banks (id and digest size), the rest defaulting to a PC Client log. */
export type SpecIdToWrite = { algorithms: readonly { alg: number; size: number }[] } & Partial<Omit<SpecIdEvent, 'algorithms'>>;

export interface EventToWrite {
  index: number;
  type: number;
  /** One digest per bank of the log, in the Spec ID header's order. */
  digests: { alg: number; digest: Uint8Array }[];
  data: Uint8Array;
}

/** `TCG_EfiSpecIDEvent` bytes for a crypto-agile header (PFP §10.4.5.1). */
export function encodeSpecIdEvent(spec: SpecIdToWrite): Uint8Array {
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode('Spec ID Event03\0'));
  w.u32le(spec.platformClass ?? 0).u8(spec.specVersionMinor ?? 0).u8(spec.specVersionMajor ?? 2).u8(spec.specErrata ?? 0).u8(spec.uintnSize ?? 2);
  w.u32le(spec.algorithms.length);
  for (const a of spec.algorithms) w.u16le(a.alg).u16le(a.size);
  const vendor = spec.vendorInfo ?? new Uint8Array(0);
  w.u8(vendor.length).bytes(vendor);
  return w.finish();
}

/**
 * A crypto-agile log: the Spec ID header record, then one `TCG_PCR_EVENT2` per event.
 * @throws CocoError EVENTLOG_ENCODE (kind `usage`): an event whose digests do not match the header's banks
 */
export function encodeCryptoAgileLog(spec: SpecIdToWrite, events: readonly EventToWrite[]): Uint8Array {
  const w = new ByteWriter();
  const header = encodeSpecIdEvent(spec);
  w.u32le(0).u32le(EV_NO_ACTION).zeros(20).u32le(header.length).bytes(header);
  for (const [i, e] of events.entries()) {
    if (e.digests.length !== spec.algorithms.length || e.digests.some((d, j) => d.alg !== spec.algorithms[j].alg || d.digest.length !== spec.algorithms[j].size)) {
      throw new CocoError('EVENTLOG_ENCODE', `event ${i} must carry one digest per bank of the header, in its order`, { kind: 'usage' });
    }
    w.u32le(e.index).u32le(e.type).u32le(e.digests.length);
    for (const d of e.digests) w.u16le(d.alg).bytes(d.digest);
    w.u32le(e.data.length).bytes(e.data);
  }
  return w.finish();
}

/** A legacy TCG 1.2 log: one `TCG_PCR_EVENT` (SHA-1 digest) per event. */
export function encodeLegacyLog(events: readonly { index: number; type: number; digest: Uint8Array; data: Uint8Array }[]): Uint8Array {
  const w = new ByteWriter();
  for (const [i, e] of events.entries()) {
    if (e.digest.length !== 20) throw new CocoError('EVENTLOG_ENCODE', `event ${i}: a legacy log holds 20-byte SHA-1 digests`, { kind: 'usage' });
    w.u32le(e.index).u32le(e.type).bytes(e.digest).u32le(e.data.length).bytes(e.data);
  }
  return w.finish();
}
