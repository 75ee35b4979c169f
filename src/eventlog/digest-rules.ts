/**
 * Which bytes an event's digest is a hash of, for the event types where the PC Client PFP (§10.4.1) and EDK2
 * fix it (specs/measured-boot.md §3.7). A digest that matches none of its candidates marks an event whose
 * log entry was altered, or a producer that hashes differently — either way, where a chain is first suspect.
 * Types whose digest covers something outside the log (firmware volumes, PE images, UKI sections) have no
 * rule.
 */
import { digestWith, hashAlgorithmById } from './algorithms.js';
import * as T from './event-types.js';
import type { LogEvent } from './parse.js';

/** The byte strings one of which the event's digests hash, or undefined when the log alone cannot tell. */
export function digestedData(event: LogEvent): Uint8Array[] | undefined {
  const d = event.data;
  switch (event.type) {
    case T.EV_SEPARATOR:
    case T.EV_EFI_ACTION:
    case T.EV_ACTION:
    case T.EV_S_CRTM_VERSION:
    case T.EV_EFI_VARIABLE_DRIVER_CONFIG:
    case T.EV_EFI_VARIABLE_AUTHORITY:
      return [d];
    case T.EV_EFI_VARIABLE_BOOT:
    case T.EV_EFI_VARIABLE_BOOT2: {
      // EDK2 digests only VariableData of Boot#### / BootOrder; other firmware the whole UEFI_VARIABLE_DATA.
      if (d.length < 32) return [d];
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const nameLen = v.getBigUint64(16, true);
      const dataLen = v.getBigUint64(24, true);
      const start = 32n + nameLen * 2n;
      if (start + dataLen !== BigInt(d.length)) return [d];
      return [d.subarray(Number(start)), d];
    }
    default:
      return undefined;
  }
}

export interface DigestRuleResult {
  /** true: a digest matches the data; false: some digest matches none of the candidates; undefined: no rule. */
  ok: boolean | undefined;
  /** Banks whose digest matches no candidate. */
  badBanks: string[];
}

/** Checks every computable digest of the event against `digestedData`. */
export function checkEventDigests(event: LogEvent): DigestRuleResult {
  const candidates = digestedData(event);
  if (candidates === undefined) return { ok: undefined, badBanks: [] };
  const badBanks: string[] = [];
  for (const d of event.digests) {
    const a = hashAlgorithmById(d.alg);
    if (a?.node === undefined) continue;
    const match = candidates.some((c) => Buffer.from(digestWith(a, c)).equals(d.digest));
    if (!match) badBanks.push(d.name);
  }
  return { ok: badBanks.length === 0, badBanks };
}
