/**
 * An event log as tools print it: tpm2_eventlog's YAML text (`version`, `events` with
 * EventNum/PCRIndex/EventType/Digests/EventSize/Event, then `pcrs`) and a JSON form carrying every decoded field.
 */
import { toHex } from '../formats/bytes.js';
import { decodeEvent, type DecodedEvent } from './decode.js';
import type { EventLog, LogEvent } from './parse.js';
import type { RegisterBanks } from './replay.js';

const hex0x = (v: bigint | number) => `0x${v.toString(16)}`;

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

/** tpm2_eventlog's escaping of an EV_IPL line inside its double quotes: C escapes for tabs, quotes, NUL. */
function ipl(s: string): string {
  return s.replace(/[\t'\0\r\\]/g, (c) => ({ '\t': '\\t', "'": "\\'", '\0': '\\0', '\r': '\\r', '\\': '\\\\' })[c] ?? c);
}

function eventLines(e: LogEvent, d: DecodedEvent, out: string[]): void {
  switch (d.kind) {
    case 'efi-variable':
      out.push('  Event:', `    VariableName: ${d.variableName}`, `    UnicodeNameLength: ${d.unicodeName.length}`, `    VariableDataLength: ${d.variableData.length}`, `    UnicodeName: ${d.unicodeName}`);
      if (d.variableData.length > 0) out.push(`    VariableData: "${toHex(d.variableData)}"`);
      return;
    case 'firmware-blob':
      out.push('  Event:');
      if (d.description !== undefined) out.push(`    BlobDescription: "${d.description}"`);
      out.push(`    BlobBase: ${hex0x(d.blobBase)}`, `    BlobLength: ${hex0x(d.blobLength)}`);
      return;
    case 'image-load':
      out.push(
        '  Event:',
        `    ImageLocationInMemory: ${hex0x(d.imageLocationInMemory)}`,
        `    ImageLengthInMemory: ${Number(d.imageLengthInMemory)}`,
        `    ImageLinkTimeAddress: ${hex0x(d.imageLinkTimeAddress)}`,
        `    LengthOfDevicePath: ${d.devicePath.length}`,
        // Every byte after the 32-byte UEFI_IMAGE_LOAD_EVENT header, whatever LengthOfDevicePath declares.
        `    DevicePath: '${toHex(e.data.subarray(32))}'`,
      );
      return;
    case 'string':
      if (e.typeName === 'EV_IPL') {
        // The raw bytes, NUL included, one quoted line per text line.
        const raw = Buffer.from(e.data).toString('latin1');
        out.push('  Event:', '    String: |-', ...raw.split('\n').map((l) => `      "${ipl(l)}"`));
        return;
      }
      if (e.typeName === 'EV_EFI_ACTION' || e.typeName === 'EV_ACTION' || e.typeName === 'EV_POST_CODE') {
        out.push('  Event: |-', `    ${d.text}`);
        return;
      }
      out.push(`  Event: "${toHex(e.data)}"`);
      return;
    default:
      // PFP §10.4.4: a binary EV_POST_CODE (or S-CRTM contents) is a UEFI_PLATFORM_FIRMWARE_BLOB.
      if ((e.typeName === 'EV_POST_CODE' || e.typeName === 'EV_S_CRTM_CONTENTS') && e.data.length === 16) {
        const v = new DataView(e.data.buffer, e.data.byteOffset, 16);
        out.push('  Event:', `    BlobBase: ${hex0x(v.getBigUint64(0, true))}`, `    BlobLength: ${hex0x(v.getBigUint64(8, true))}`);
        return;
      }
      out.push(`  Event: "${toHex(e.data)}"`);
  }
}

/**
 * tpm2_eventlog's YAML text, byte for byte (tpm2-tools 5.x: sequence items at the parent's indentation, digests
 * and hex data double-quoted, PCR values as fixed-width 0x hex). Legacy SHA-1 logs print without `EventNum` and
 * item markers, as tpm2_eventlog does.
 */
export function renderTpm2EventlogYaml(log: EventLog, pcrs?: RegisterBanks): string {
  const out: string[] = ['---', 'version: 1', 'events:'];
  const legacy = log.format !== 'crypto-agile';
  log.events.forEach((e, i) => {
    const d = decodeEvent(e);
    const first = legacy ? '  ' : `- EventNum: ${e.seq}\n  `;
    if (i === 0 && d.kind === 'spec-id') {
      const s = d.specId;
      out.push(
        `${first}PCRIndex: ${e.index}`,
        `  EventType: ${e.typeName}`,
        `  Digest: "${toHex(e.digests[0].digest)}"`,
        `  EventSize: ${e.data.length}`,
        '  SpecID:',
        `  - Signature: ${s.signature}`,
        `    platformClass: ${s.platformClass}`,
        `    specVersionMinor: ${s.specVersionMinor}`,
        `    specVersionMajor: ${s.specVersionMajor}`,
        `    specErrata: ${s.specErrata}`,
        `    uintnSize: ${s.uintnSize}`,
        `    numberOfAlgorithms: ${s.algorithms.length}`,
        '    Algorithms:',
        ...s.algorithms.flatMap((a, k) => [`    - Algorithm[${k}]:`, `      algorithmId: ${a.name}`, `      digestSize: ${a.size}`]),
        `    vendorInfoSize: ${s.vendorInfo.length}`,
      );
      return;
    }
    out.push(`${first}PCRIndex: ${e.index}`, `  EventType: ${e.typeName}`, `  DigestCount: ${e.digests.length}`, '  Digests:');
    for (const x of e.digests) out.push(`  - AlgorithmId: ${x.name}`, `    Digest: "${toHex(x.digest)}"`);
    out.push(`  EventSize: ${e.data.length}`);
    eventLines(e, d, out);
  });
  if (pcrs !== undefined) {
    out.push('pcrs:');
    for (const [bank, m] of pcrs) {
      out.push(`  ${bank}:`);
      for (const [i, v] of m) out.push(`    ${String(i).padEnd(2)} : 0x${toHex(v)}`);
    }
  }
  return `${out.join('\n')}\n`;
}
