/**
 * PCR values as `tpm2_pcrread` prints them, and the reference values two machines agree on
 * (seed 004: boot the same image on a reference machine and in the cloud; the PCRs that match are the
 * candidates for reference values, the others measure firmware the cloud controls).
 */
import { CocoError } from '../errors.js';

/** bank → PCR index → value. Banks and indices keep their order of first appearance. */
export type PcrBanks = Map<string, Map<number, Uint8Array>>;

/** Digest sizes of the TPM banks tpm2-tools names (`sha1`, `sha256`, …); also used to infer a missing bank. */
const BANK_SIZES: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64, sm3_256: 32, sha3_256: 32, sha3_384: 48, sha3_512: 64 };
const BANK_BY_SIZE: Record<number, string> = { 20: 'sha1', 32: 'sha256', 48: 'sha384', 64: 'sha512' };

const BANK_LINE = /^\s*([A-Za-z][A-Za-z0-9_]*)\s*:\s*$/;
const VALUE_LINE = /^\s*(\d{1,2})\s*:\s*0x([0-9A-Fa-f]*)\s*$/;

function formatError(what: string, line: number, message: string): CocoError {
  return new CocoError('PCR_FORMAT', `${what}, line ${line}: ${message}`, { kind: 'input', detail: { line } });
}

/**
 * Parses `tpm2_pcrread` output: `  sha256:` bank headers and `    N : 0xHEX` value lines (tpm2-tools
 * `pcr_print_pcr_struct`). Output copied without its bank header (as in seed 004) is accepted, the bank
 * inferred from the digest length (20 → sha1, 32 → sha256, 48 → sha384, 64 → sha512). A bank header with
 * no values (a bank the TPM has not allocated) is kept empty.
 * @throws CocoError PCR_FORMAT: any other line, a PCR index above 23, a repeated PCR, a value whose size
 *   does not fit its bank, or no PCR value at all
 */
export function parsePcrRead(text: string, what = 'tpm2_pcrread output'): PcrBanks {
  const banks: PcrBanks = new Map();
  let bank: string | undefined;
  let values = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const header = BANK_LINE.exec(line);
    if (header !== null) {
      bank = header[1].toLowerCase();
      if (banks.has(bank)) throw formatError(what, i + 1, `bank ${bank} appears twice`);
      banks.set(bank, new Map());
      continue;
    }
    const m = VALUE_LINE.exec(line);
    if (m === null) throw formatError(what, i + 1, `expected "<bank>:" or "<pcr> : 0x<hex>", got ${JSON.stringify(line.slice(0, 80))}`);
    const index = Number(m[1]);
    if (index > 23) throw formatError(what, i + 1, `PCR ${index} does not exist (0–23)`);
    if (m[2].length % 2 !== 0 || m[2].length === 0) throw formatError(what, i + 1, `PCR ${index} value 0x${m[2]} is not a whole number of bytes`);
    const value = new Uint8Array(Buffer.from(m[2], 'hex'));
    let b = bank;
    if (b === undefined) {
      b = BANK_BY_SIZE[value.length];
      if (b === undefined) throw formatError(what, i + 1, `no bank header, and a ${value.length}-byte value fits no bank`);
      if (!banks.has(b)) banks.set(b, new Map());
    }
    const expected = BANK_SIZES[b] ?? [...(banks.get(b) as Map<number, Uint8Array>).values()][0]?.length;
    if (expected !== undefined && value.length !== expected) {
      throw formatError(what, i + 1, `PCR ${index} has ${value.length} bytes, but ${b} values have ${expected}`);
    }
    const map = banks.get(b) as Map<number, Uint8Array>;
    if (map.has(index)) throw formatError(what, i + 1, `PCR ${index} of ${b} appears twice`);
    map.set(index, value);
    values++;
  }
  if (values === 0) throw new CocoError('PCR_FORMAT', `${what} holds no PCR values`, { kind: 'input' });
  return banks;
}

export interface PcrComparison {
  /** Values equal in both inputs, per bank, in PCR order. */
  common: PcrBanks;
  /** PCRs read in both but with different values, per bank. */
  differing: Map<string, number[]>;
  /** PCRs read in only one of the inputs, per bank. */
  unpaired: Map<string, number[]>;
}

/** The PCRs on which two readings agree (and, for the report, those that differ or are unpaired). */
export function commonPcrs(a: PcrBanks, b: PcrBanks): PcrComparison {
  const common: PcrBanks = new Map();
  const differing = new Map<string, number[]>();
  const unpaired = new Map<string, number[]>();
  const banks = [...new Set([...a.keys(), ...b.keys()])];
  for (const bank of banks) {
    const x = a.get(bank) ?? new Map<number, Uint8Array>();
    const y = b.get(bank) ?? new Map<number, Uint8Array>();
    const same = new Map<number, Uint8Array>();
    const diff: number[] = [];
    const alone: number[] = [];
    for (const i of [...new Set([...x.keys(), ...y.keys()])].sort((p, q) => p - q)) {
      const u = x.get(i);
      const v = y.get(i);
      if (u === undefined || v === undefined) alone.push(i);
      else if (Buffer.compare(u, v) === 0) same.set(i, u);
      else diff.push(i);
    }
    if (same.size > 0) common.set(bank, same);
    if (diff.length > 0) differing.set(bank, diff);
    if (alone.length > 0) unpaired.set(bank, alone);
  }
  return { common, differing, unpaired };
}

/** PCR values in `tpm2_pcrread`'s own format (`  sha256:` / `    3 : 0x…`), so the output reads back in. */
export function formatPcrRead(banks: PcrBanks): string {
  let out = '';
  for (const [bank, values] of banks) {
    out += `  ${bank}:\n`;
    for (const [i, v] of values) out += `    ${String(i).padEnd(2)}: 0x${Buffer.from(v).toString('hex').toUpperCase()}\n`;
  }
  return out;
}
