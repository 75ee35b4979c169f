/**
 * tpm2-tools' "serialized" PCR file (`tpm2_quote -o`, `tpm2_pcrread -o`; lib/pcr.c, specs/measured-boot.md
 * §3.6): the in-memory, little-endian C structs TPML_PCR_SELECTION (132 bytes) and a count of TPML_DIGEST
 * records (532 bytes each, ≤ 8 values), values in selection order. Also the `-F values` form: the bare
 * concatenated values.
 */
import { ByteReader, ByteWriter } from '../formats/reader.js';
import { CocoError } from '../errors.js';
import { hashAlgorithmById, hashAlgorithmName } from '../eventlog/algorithms.js';
import type { RegisterBanks } from '../eventlog/replay.js';
import type { PcrSelection } from './pcr-selection.js';

const SELECTION_BYTES = 4 + 16 * 8;
const DIGEST_LIST_BYTES = 4 + 8 * (2 + 64);

function fail(message: string): CocoError {
  return new CocoError('TPM_PCRS_FILE', `tpm2-tools PCR file: ${message}`, { kind: 'input' });
}

/**
 * Reads a serialized PCR file into bank → PCR → value.
 * @throws CocoError TPM_PCRS_FILE: wrong size, an unknown bank, more values than records hold
 */
export function parsePcrsFile(bytes: Uint8Array): { selection: PcrSelection[]; pcrs: RegisterBanks } {
  if (bytes.length < SELECTION_BYTES + 4) throw fail(`${bytes.length} bytes is shorter than a selection and a record count`);
  const r = new ByteReader(bytes, 'tpm2-tools PCR file');
  const count = r.u32le();
  if (count > 16) throw fail(`selection count ${count} exceeds 16`);
  const selection: PcrSelection[] = [];
  for (let i = 0; i < 16; i++) {
    const hash = r.u16le();
    const sizeofSelect = r.u8();
    const bits = r.take(4);
    r.skip(1);
    if (i >= count) continue;
    if (sizeofSelect > 4) throw fail(`sizeofSelect ${sizeofSelect} exceeds 4`);
    if (hashAlgorithmById(hash) === undefined) throw fail(`unknown bank 0x${hash.toString(16)}`);
    const pcrs: number[] = [];
    for (let b = 0; b < sizeofSelect * 8; b++) if (bits[b >> 3] & (1 << (b & 7))) pcrs.push(b);
    selection.push({ hash, bank: hashAlgorithmName(hash), pcrs, sizeofSelect });
  }
  const records = r.u32le();
  if (bytes.length !== SELECTION_BYTES + 4 + records * DIGEST_LIST_BYTES) {
    throw fail(`${records} digest record(s) need ${SELECTION_BYTES + 4 + records * DIGEST_LIST_BYTES} bytes, the file has ${bytes.length}`);
  }
  const values: Uint8Array[] = [];
  for (let k = 0; k < records; k++) {
    const n = r.u32le();
    if (n > 8) throw fail(`a digest record holds ${n} values, at most 8`);
    for (let i = 0; i < 8; i++) {
      const size = r.u16le();
      const buf = r.take(64);
      if (i < n) {
        if (size > 64) throw fail(`a digest of ${size} bytes`);
        values.push(buf.subarray(0, size));
      }
    }
  }
  const pcrs: RegisterBanks = new Map();
  let next = 0;
  for (const s of selection) {
    const size = (hashAlgorithmById(s.hash) as { size: number }).size;
    const m = new Map<number, Uint8Array>();
    pcrs.set(s.bank, m);
    for (const p of s.pcrs) {
      const v = values[next++];
      if (v === undefined) throw fail(`no value for ${s.bank}:${p}`);
      if (v.length !== size) throw fail(`${s.bank}:${p} has ${v.length} bytes, not ${size}`);
      m.set(p, v);
    }
  }
  if (next !== values.length) throw fail(`${values.length} values for ${next} selected PCRs`);
  return { selection, pcrs };
}

/** Writes the serialized form of `pcrs` (banks and PCRs in map order). */
export function encodePcrsFile(pcrs: RegisterBanks): Uint8Array {
  const w = new ByteWriter(2048);
  const banks = [...pcrs];
  if (banks.length > 16) throw new CocoError('TPM_ENCODE', 'at most 16 banks', { kind: 'usage' });
  w.u32le(banks.length);
  const values: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) {
    const b = banks[i];
    if (b === undefined) {
      w.zeros(8);
      continue;
    }
    const alg = [0x0004, 0x000b, 0x000c, 0x000d, 0x0012].map((id) => hashAlgorithmById(id)).find((a) => a?.name === b[0]);
    if (alg === undefined) throw new CocoError('TPM_ENCODE', `unknown bank ${b[0]}`, { kind: 'usage' });
    const bits = new Uint8Array(4);
    for (const [p, v] of [...b[1]].sort((x, y) => x[0] - y[0])) {
      bits[p >> 3] |= 1 << (p & 7);
      values.push(v);
    }
    w.u16le(alg.id).u8(3).bytes(bits).u8(0);
  }
  const records = Math.ceil(values.length / 8);
  w.u32le(records);
  for (let k = 0; k < records; k++) {
    const chunk = values.slice(k * 8, k * 8 + 8);
    w.u32le(chunk.length);
    for (let i = 0; i < 8; i++) {
      const v = chunk[i] ?? new Uint8Array(0);
      const buf = new Uint8Array(64);
      buf.set(v);
      w.u16le(v.length).bytes(buf);
    }
  }
  return w.finish();
}
