/**
 * Event data decoded where the PC Client PFP (§10.2, §10.4) or a well-known producer (EDK2/OVMF, systemd-stub,
 * GRUB, the Linux EFI stub) defines it (specs/measured-boot.md §2.3, §3.7). Decoding never throws: data that
 * does not have the shape its type promises is reported as `{ kind: 'undecodable', reason }`, because a log
 * is evidence to show, and a broken event is itself a finding.
 */
import { ByteReader } from '../formats/reader.js';
import { toHex } from '../formats/bytes.js';
import * as T from './event-types.js';
import { parseSpecIdEvent, type LogEvent, type SpecIdEvent } from './parse.js';

export type DecodedEvent =
  | { kind: 'spec-id'; specId: SpecIdEvent }
  | { kind: 'startup-locality'; locality: number }
  | { kind: 'no-action'; signature?: string }
  | { kind: 'separator'; value: number; error: boolean }
  | { kind: 'string'; encoding: 'ascii' | 'utf-16le'; text: string }
  | { kind: 'efi-variable'; variableName: string; unicodeName: string; variableData: Uint8Array; value?: unknown }
  | { kind: 'firmware-blob'; blobBase: bigint; blobLength: bigint; description?: string }
  | {
      kind: 'image-load';
      imageLocationInMemory: bigint;
      imageLengthInMemory: bigint;
      imageLinkTimeAddress: bigint;
      devicePath: Uint8Array;
    }
  | { kind: 'event-tag'; taggedEventId: number; taggedEventData: Uint8Array; text?: string }
  | { kind: 'handoff-tables'; description?: string; tables: { vendorGuid: string; vendorTable: bigint }[] }
  | { kind: 'gpt'; diskGuid: string; partitions: { typeGuid: string; uniqueGuid: string; startingLba: bigint; endingLba: bigint; name: string }[] }
  | { kind: 'raw' }
  | { kind: 'undecodable'; reason: string };

/** EFI_GUID as text: the first three fields are little-endian (UEFI spec Appendix A). */
export function formatGuid(b: Uint8Array): string {
  const h = (bytes: Uint8Array) => toHex(bytes);
  const le = (bytes: Uint8Array) => h(Uint8Array.from(bytes).reverse());
  return `${le(b.subarray(0, 4))}-${le(b.subarray(4, 6))}-${le(b.subarray(6, 8))}-${h(b.subarray(8, 10))}-${h(b.subarray(10, 16))}`;
}

const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** Linux EFI stub's initrd tag (drivers/firmware/efi/libstub, `INITRD_EVENT_TAG_ID`). */
const LINUX_INITRD_TAG = 0x8f3b22ec;
/** Linux EFI stub's load-options tag (`LOAD_OPTIONS_EVENT_TAG_ID`). */
const LINUX_LOAD_OPTIONS_TAG = 0x8f3b22ed;

function utf16(bytes: Uint8Array): string {
  let end = bytes.length & ~1;
  while (end >= 2 && bytes[end - 2] === 0 && bytes[end - 1] === 0) end -= 2;
  return Buffer.from(bytes.subarray(0, end)).toString('utf16le');
}

function printableAscii(bytes: Uint8Array): string | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  for (let i = 0; i < end; i++) {
    const c = bytes[i];
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return undefined;
    if (c > 0x7e) return undefined;
  }
  return String.fromCharCode(...bytes.subarray(0, end));
}

/** A string event in whichever of the two encodings producers use (GRUB ASCII, systemd/EDK2 UTF-16LE). */
function decodeString(data: Uint8Array): DecodedEvent {
  if (data.length >= 2 && data.length % 2 === 0 && data[1] === 0) {
    const s = utf16(data);
    if (/^[\x20-\x7e\t\r\n]*$/.test(s)) return { kind: 'string', encoding: 'utf-16le', text: s };
  }
  const a = printableAscii(data);
  if (a !== undefined) return { kind: 'string', encoding: 'ascii', text: a };
  return { kind: 'raw' };
}

/** `UEFI_VARIABLE_DATA` (PFP §10.2.3), with the values of the variables whose content PFP fixes. */
function decodeVariable(data: Uint8Array): DecodedEvent {
  const r = new ByteReader(data, 'UEFI_VARIABLE_DATA');
  const variableName = formatGuid(r.take(16));
  const nameLength = r.u64le();
  const dataLength = r.u64le();
  if (nameLength * 2n > BigInt(r.remaining)) return { kind: 'undecodable', reason: `UnicodeNameLength ${nameLength} exceeds the event data` };
  const unicodeName = utf16(r.take(Number(nameLength) * 2));
  if (dataLength > BigInt(r.remaining)) return { kind: 'undecodable', reason: `VariableDataLength ${dataLength} exceeds the event data` };
  const variableData = r.take(Number(dataLength));
  let value: unknown;
  if (variableName === EFI_GLOBAL_VARIABLE) {
    if (unicodeName === 'SecureBoot' && variableData.length === 1) value = variableData[0];
    else if (unicodeName === 'BootOrder' && variableData.length % 2 === 0) {
      value = Array.from({ length: variableData.length / 2 }, (_, i) => `Boot${(variableData[2 * i] | (variableData[2 * i + 1] << 8)).toString(16).toUpperCase().padStart(4, '0')}`);
    } else if (/^Boot[0-9A-F]{4}$/.test(unicodeName) && variableData.length >= 6) {
      // EFI_LOAD_OPTION (UEFI spec §3.1.3): Attributes u32, FilePathListLength u16, Description (UTF-16, NUL-terminated), …
      const lr = new ByteReader(variableData, 'EFI_LOAD_OPTION');
      const attributes = lr.u32le();
      const filePathListLength = lr.u16le();
      let end = lr.offset;
      while (end + 1 < variableData.length && (variableData[end] !== 0 || variableData[end + 1] !== 0)) end += 2;
      const description = utf16(variableData.subarray(lr.offset, end));
      const pathStart = Math.min(end + 2, variableData.length);
      value = { attributes, description, devicePath: variableData.subarray(pathStart, Math.min(pathStart + filePathListLength, variableData.length)) };
    }
  }
  return { kind: 'efi-variable', variableName, unicodeName, variableData, ...(value === undefined ? {} : { value }) };
}

function decodeImageLoad(data: Uint8Array): DecodedEvent {
  // UEFI_IMAGE_LOAD_EVENT (PFP §10.2.4), UINTN fields taken as 64-bit as every log in the wild writes them.
  const r = new ByteReader(data, 'UEFI_IMAGE_LOAD_EVENT');
  const imageLocationInMemory = r.u64le();
  const imageLengthInMemory = r.u64le();
  const imageLinkTimeAddress = r.u64le();
  const lengthOfDevicePath = r.u64le();
  if (lengthOfDevicePath > BigInt(r.remaining)) return { kind: 'undecodable', reason: `LengthOfDevicePath ${lengthOfDevicePath} exceeds the event data` };
  return { kind: 'image-load', imageLocationInMemory, imageLengthInMemory, imageLinkTimeAddress, devicePath: r.take(Number(lengthOfDevicePath)) };
}

function decodeHandoff(data: Uint8Array, withDescription: boolean): DecodedEvent {
  const r = new ByteReader(data, 'UEFI_HANDOFF_TABLE_POINTERS');
  let description: string | undefined;
  if (withDescription) description = printableAscii(r.take(r.u8())) ?? '';
  const n = r.u64le();
  if (n * 24n > BigInt(r.remaining)) return { kind: 'undecodable', reason: `NumberOfTables ${n} exceeds the event data` };
  const tables = Array.from({ length: Number(n) }, () => ({ vendorGuid: formatGuid(r.take(16)), vendorTable: r.u64le() }));
  return { kind: 'handoff-tables', ...(description === undefined ? {} : { description }), tables };
}

function decodeGpt(data: Uint8Array): DecodedEvent {
  // UEFI_GPT_DATA (PFP §10.2.6): the 92-byte EFI_PARTITION_TABLE_HEADER, NumberOfPartitions u64, entries.
  const r = new ByteReader(data, 'UEFI_GPT_DATA');
  const header = r.take(92);
  const diskGuid = formatGuid(header.subarray(56, 72));
  const entrySize = new DataView(header.buffer, header.byteOffset).getUint32(84, true);
  const n = r.u64le();
  if (entrySize < 128 || n * BigInt(entrySize) > BigInt(r.remaining)) return { kind: 'undecodable', reason: `${n} partition entries of ${entrySize} bytes do not fit the event data` };
  const partitions = Array.from({ length: Number(n) }, () => {
    const e = r.take(entrySize);
    const v = new DataView(e.buffer, e.byteOffset, e.byteLength);
    return { typeGuid: formatGuid(e.subarray(0, 16)), uniqueGuid: formatGuid(e.subarray(16, 32)), startingLba: v.getBigUint64(32, true), endingLba: v.getBigUint64(40, true), name: utf16(e.subarray(56, 128)) };
  });
  return { kind: 'gpt', diskGuid, partitions };
}

function decodeUnchecked(event: LogEvent): DecodedEvent {
  const d = event.data;
  switch (event.type) {
    case T.EV_NO_ACTION: {
      const sig = printableAscii(d.subarray(0, 16));
      if (sig?.startsWith('Spec ID Event')) return { kind: 'spec-id', specId: parseSpecIdEvent(d) };
      // PFP §10.4.5.3: "StartupLocality\0" then the locality the TPM2_Startup came from.
      if (d.length === 17 && sig === 'StartupLocality') return { kind: 'startup-locality', locality: d[16] };
      return { kind: 'no-action', ...(sig === undefined ? {} : { signature: sig }) };
    }
    case T.EV_SEPARATOR: {
      if (d.length !== 4) return { kind: 'undecodable', reason: `separator data has ${d.length} bytes, not 4` };
      const value = new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
      // PFP §10.4.1: 0 is the normal separator, 1 (or 0xFFFFFFFF in old firmware) signals an error.
      return { kind: 'separator', value, error: value !== 0 };
    }
    case T.EV_EFI_ACTION:
    case T.EV_ACTION:
    case T.EV_POST_CODE:
    case T.EV_S_CRTM_VERSION:
    case T.EV_IPL:
    case T.EV_S_CRTM_CONTENTS:
      return decodeString(d);
    case T.EV_EFI_VARIABLE_DRIVER_CONFIG:
    case T.EV_EFI_VARIABLE_BOOT:
    case T.EV_EFI_VARIABLE_BOOT2:
    case T.EV_EFI_VARIABLE_AUTHORITY:
      return decodeVariable(d);
    case T.EV_EFI_PLATFORM_FIRMWARE_BLOB: {
      const r = new ByteReader(d, 'UEFI_PLATFORM_FIRMWARE_BLOB');
      return { kind: 'firmware-blob', blobBase: r.u64le(), blobLength: r.u64le() };
    }
    case T.EV_EFI_PLATFORM_FIRMWARE_BLOB2: {
      const r = new ByteReader(d, 'UEFI_PLATFORM_FIRMWARE_BLOB2');
      const description = printableAscii(r.take(r.u8())) ?? '';
      return { kind: 'firmware-blob', description, blobBase: r.u64le(), blobLength: r.u64le() };
    }
    case T.EV_EFI_BOOT_SERVICES_APPLICATION:
    case T.EV_EFI_BOOT_SERVICES_DRIVER:
    case T.EV_EFI_RUNTIME_SERVICES_DRIVER:
      return decodeImageLoad(d);
    case T.EV_EFI_HANDOFF_TABLES:
      return decodeHandoff(d, false);
    case T.EV_EFI_HANDOFF_TABLES2:
      return decodeHandoff(d, true);
    case T.EV_EFI_GPT_EVENT:
      return decodeGpt(d);
    case T.EV_EVENT_TAG: {
      const r = new ByteReader(d, 'TCG_PCClientTaggedEvent');
      const taggedEventId = r.u32le();
      const size = r.u32le();
      if (size > r.remaining) return { kind: 'undecodable', reason: `taggedEventDataSize ${size} exceeds the event data` };
      const taggedEventData = r.take(size);
      const known = taggedEventId === LINUX_INITRD_TAG || taggedEventId === LINUX_LOAD_OPTIONS_TAG;
      const s = known ? decodeString(taggedEventData) : undefined;
      return { kind: 'event-tag', taggedEventId, taggedEventData, ...(s?.kind === 'string' ? { text: s.text } : {}) };
    }
    default:
      return { kind: 'raw' };
  }
}

/** The event's data decoded by its type; never throws. */
export function decodeEvent(event: LogEvent): DecodedEvent {
  try {
    return decodeUnchecked(event);
  } catch (e) {
    return { kind: 'undecodable', reason: e instanceof Error ? e.message : String(e) };
  }
}
