/**
 * An event log as the documents tools print: tpm2_eventlog's YAML structure (tpm2-tools `lib/tpm2_eventlog_yaml.c`:
 * `version`, `events[]` with EventNum/PCRIndex/EventType/Digests/EventSize/Event, then `pcrs`) and a JSON form
 * carrying every decoded field. Values only; rendering to text is the caller's.
 */
import { toHex } from '../formats/bytes.js';
import { decodeEvent, type DecodedEvent } from './decode.js';
import type { EventLog, LogEvent } from './parse.js';
import type { RegisterBanks } from './replay.js';

const hex0x = (v: bigint | number) => `0x${v.toString(16)}`;

/** The `Event` member of tpm2_eventlog's output for one event. */
function tpm2Event(e: LogEvent, d: DecodedEvent): unknown {
  switch (d.kind) {
    case 'efi-variable':
      return {
        VariableName: d.variableName,
        UnicodeNameLength: d.unicodeName.length,
        VariableDataLength: d.variableData.length,
        UnicodeName: d.unicodeName,
        ...(d.variableData.length > 0 ? { VariableData: toHex(d.variableData) } : {}),
      };
    case 'firmware-blob':
      return { ...(d.description === undefined ? {} : { BlobDescription: d.description }), BlobBase: d.blobBase, BlobLength: d.blobLength };
    case 'image-load':
      return {
        ImageLocationInMemory: d.imageLocationInMemory,
        ImageLengthInMemory: Number(d.imageLengthInMemory),
        ImageLinkTimeAddress: d.imageLinkTimeAddress,
        LengthOfDevicePath: d.devicePath.length,
        DevicePath: toHex(d.devicePath),
      };
    case 'string':
      // tpm2_eventlog prints EV_IPL under `String:` and action strings bare; other string events as hex.
      if (e.typeName === 'EV_IPL') return { String: d.text };
      if (e.typeName === 'EV_EFI_ACTION' || e.typeName === 'EV_ACTION') return d.text;
      return toHex(e.data);
    default:
      return toHex(e.data);
  }
}

/**
 * tpm2_eventlog's document for `log`, with `pcrs` from a replay when given. Addresses are bigints, which
 * tpm2_eventlog prints as hexadecimal integers (`BlobBase: 0x820000`).
 */
export function tpm2EventlogDocument(log: EventLog, pcrs?: RegisterBanks): Record<string, unknown> {
  const events = log.events.map((e, i) => {
    const d = decodeEvent(e);
    if (i === 0 && d.kind === 'spec-id') {
      const s = d.specId;
      return {
        EventNum: e.seq,
        PCRIndex: e.index,
        EventType: e.typeName,
        Digest: toHex(e.digests[0].digest),
        EventSize: e.data.length,
        SpecID: [
          {
            Signature: s.signature,
            platformClass: s.platformClass,
            specVersionMinor: s.specVersionMinor,
            specVersionMajor: s.specVersionMajor,
            specErrata: s.specErrata,
            uintnSize: s.uintnSize,
            numberOfAlgorithms: s.algorithms.length,
            Algorithms: s.algorithms.map((a, k) => ({ [`Algorithm[${k}]`]: null, algorithmId: a.name, digestSize: a.size })),
            vendorInfoSize: s.vendorInfo.length,
          },
        ],
      };
    }
    return {
      EventNum: e.seq,
      PCRIndex: e.index,
      EventType: e.typeName,
      DigestCount: e.digests.length,
      Digests: e.digests.map((x) => ({ AlgorithmId: x.name, Digest: toHex(x.digest) })),
      EventSize: e.data.length,
      Event: tpm2Event(e, d),
    };
  });
  const doc: Record<string, unknown> = { version: 1, events };
  if (pcrs !== undefined) doc.pcrs = Object.fromEntries([...pcrs].map(([b, m]) => [b, Object.fromEntries([...m].map(([i, v]) => [String(i), BigInt(`0x${toHex(v)}`)]))]));
  return doc;
}

function jsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (typeof v === 'bigint') return hex0x(v);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

/** Every record with its decoded data, JSON-safe (bytes as hex, 64-bit values as 0x hex). */
export function eventLogJson(log: EventLog): Record<string, unknown> {
  return {
    format: log.format,
    ...(log.specId === undefined ? {} : { specId: jsonSafe(log.specId) }),
    events: log.events.map((e) => ({
      seq: e.seq,
      pcr: e.index,
      type: e.typeName,
      digests: Object.fromEntries(e.digests.map((d) => [d.name, toHex(d.digest)])),
      data: toHex(e.data),
      decoded: jsonSafe(decodeEvent(e)),
    })),
  };
}
