/**
 * The TDREPORT a TD gets from TDG.MR.REPORT (`/dev/tdx_guest` TDX_CMD_GET_REPORT0), 1024 bytes, the input the
 * Quoting Enclave turns into a quote (specs/tdx-initdata.md §1.6): REPORTMACSTRUCT, TEE_TCB_INFO, TDINFO.
 * Its MAC is only checkable on the same platform; what can be checked anywhere is that the two hashes in
 * REPORTMACSTRUCT cover the TEE_TCB_INFO and TDINFO that follow.
 */
import { createHash } from 'node:crypto';
import { CocoError } from '../../errors.js';
import { bytesEqual } from '../../formats/bytes.js';

export const TDREPORT_SIZE = 1024;

interface Field {
  name: string;
  off: number;
  size: number;
}

/** Offsets from the start of the TDREPORT (§1.6). */
export const TDREPORT_FIELDS: readonly Field[] = [
  { name: 'reportType', off: 0, size: 4 },
  { name: 'macReserved1', off: 4, size: 12 },
  { name: 'cpuSvn', off: 16, size: 16 },
  { name: 'teeTcbInfoHash', off: 32, size: 48 },
  { name: 'teeInfoHash', off: 80, size: 48 },
  { name: 'reportData', off: 128, size: 64 },
  { name: 'macReserved2', off: 192, size: 32 },
  { name: 'mac', off: 224, size: 32 },
  { name: 'teeTcbInfo', off: 256, size: 239 },
  { name: 'reserved', off: 495, size: 17 },
  { name: 'tdInfo', off: 512, size: 512 },
];

/** TEE_TCB_INFO and TDINFO members, offsets within their structures. */
const TCB_INFO: readonly Field[] = [
  { name: 'valid', off: 0, size: 8 },
  { name: 'teeTcbSvn', off: 8, size: 16 },
  { name: 'mrSeam', off: 24, size: 48 },
  { name: 'mrSignerSeam', off: 72, size: 48 },
  { name: 'seamAttributes', off: 120, size: 8 },
  { name: 'teeTcbSvn2', off: 128, size: 16 },
];
const TD_INFO: readonly Field[] = [
  { name: 'tdAttributes', off: 0, size: 8 },
  { name: 'xfam', off: 8, size: 8 },
  { name: 'mrTd', off: 16, size: 48 },
  { name: 'mrConfigId', off: 64, size: 48 },
  { name: 'mrOwner', off: 112, size: 48 },
  { name: 'mrOwnerConfig', off: 160, size: 48 },
  { name: 'rtmr0', off: 208, size: 48 },
  { name: 'rtmr1', off: 256, size: 48 },
  { name: 'rtmr2', off: 304, size: 48 },
  { name: 'rtmr3', off: 352, size: 48 },
  { name: 'servTdHash', off: 400, size: 48 },
];

export interface TdReport {
  raw: Uint8Array;
  /** Every field by name, views into `raw` (REPORTMACSTRUCT, TEE_TCB_INFO and TDINFO members). */
  fields: Record<string, Uint8Array>;
}

export function parseTdReport(bytes: Uint8Array): TdReport {
  if (bytes.length !== TDREPORT_SIZE) throw new CocoError('TDX_TDREPORT', `TDREPORT must be ${TDREPORT_SIZE} bytes, got ${bytes.length}`, { kind: 'input' });
  const raw = new Uint8Array(bytes);
  if (raw[0] !== 0x81) throw new CocoError('TDX_TDREPORT', `REPORTTYPE.TYPE 0x${raw[0].toString(16)} is not TDX (0x81)`, { kind: 'input' });
  const fields: Record<string, Uint8Array> = {};
  const take = (list: readonly Field[], base: number): void => {
    for (const f of list) fields[f.name] = raw.subarray(base + f.off, base + f.off + f.size);
  };
  take(TDREPORT_FIELDS, 0);
  take(TCB_INFO, 256);
  take(TD_INFO, 512);
  return { raw, fields };
}

/** Whether TEE_TCB_INFO_HASH and TEE_INFO_HASH are the SHA-384 of the structures the report carries. */
export function tdReportHashesConsistent(r: TdReport): { teeTcbInfo: boolean; teeInfo: boolean } {
  const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha384').update(b).digest());
  return { teeTcbInfo: bytesEqual(sha(r.fields.teeTcbInfo), r.fields.teeTcbInfoHash), teeInfo: bytesEqual(sha(r.fields.tdInfo), r.fields.teeInfoHash) };
}
