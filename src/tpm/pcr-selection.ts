/**
 * TPML_PCR_SELECTION (Part 2 §10.9.7, specs/measured-boot.md §3.2): which PCRs of which banks a quote covers,
 * and tpm2-tools' textual form `sha256:0,1,2+sha1:all`.
 */
import { CocoError } from '../errors.js';
import { hashAlgorithmById, hashAlgorithmByName, hashAlgorithmName } from '../eventlog/algorithms.js';
import { tpmFormatError, type TpmReader, type TpmWriter } from './wire.js';

export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hash: number;
  /** Bank name (`sha256`). */
  bank: string;
  /** Selected PCRs, ascending. */
  pcrs: number[];
  /** sizeofSelect as marshaled (3 for a 24-PCR TPM). */
  sizeofSelect: number;
}

/** Reads a TPML_PCR_SELECTION; at most 16 banks (TPM's HASH_COUNT bound) of at most 4 select bytes. */
export function readPcrSelection(r: TpmReader): PcrSelection[] {
  const count = r.u32be();
  if (count > 16) throw tpmFormatError(r.what, `TPML_PCR_SELECTION count ${count} exceeds 16`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16be();
    const sizeofSelect = r.u8();
    if (sizeofSelect > 4) throw tpmFormatError(r.what, `sizeofSelect ${sizeofSelect} exceeds PCR_SELECT_MAX (4)`);
    const bits = r.take(sizeofSelect);
    const pcrs: number[] = [];
    for (let b = 0; b < sizeofSelect * 8; b++) if (bits[b >> 3] & (1 << (b & 7))) pcrs.push(b);
    out.push({ hash, bank: hashAlgorithmName(hash), pcrs, sizeofSelect });
  }
  return out;
}

export function writePcrSelection(w: TpmWriter, sel: readonly Pick<PcrSelection, 'hash' | 'pcrs'>[], sizeofSelect = 3): void {
  w.u32be(sel.length);
  for (const s of sel) {
    const bits = new Uint8Array(sizeofSelect);
    for (const p of s.pcrs) {
      if (p >= sizeofSelect * 8) throw new CocoError('TPM_ENCODE', `PCR ${p} does not fit a ${sizeofSelect}-byte selection`, { kind: 'usage' });
      bits[p >> 3] |= 1 << (p & 7);
    }
    w.u16be(s.hash).u8(sizeofSelect).bytes(bits);
  }
}

/**
 * tpm2-tools' PCR list syntax (`man/common/pcr.md`): `bank:pcr,pcr…` joined by `+`; a PCR may be `all`;
 * PCRs come out ascending and unique per bank.
 * @throws CocoError TPM_PCR_LIST (kind `usage`)
 */
export function parsePcrList(text: string): Pick<PcrSelection, 'hash' | 'bank' | 'pcrs'>[] {
  const bad = (m: string) => new CocoError('TPM_PCR_LIST', `PCR list ${JSON.stringify(text.slice(0, 100))}: ${m}`, { kind: 'usage' });
  if (text.trim() === '') throw bad('empty');
  return text.split('+').map((part) => {
    const m = /^\s*([a-z0-9_]+)\s*:\s*([0-9a-z,\s]+)$/i.exec(part);
    if (m === null) throw bad(`"${part}" is not bank:pcr,pcr…`);
    const alg = hashAlgorithmByName(m[1]) ?? (/^0x[0-9a-f]+$/i.test(m[1]) ? hashAlgorithmById(Number(m[1])) : undefined);
    if (alg === undefined) throw bad(`unknown bank ${m[1]}`);
    const set = new Set<number>();
    for (const item of m[2].split(',').map((s) => s.trim())) {
      if (item.toLowerCase() === 'all') for (let i = 0; i < 24; i++) set.add(i);
      else if (/^\d{1,2}$/.test(item) && Number(item) < 24) set.add(Number(item));
      else throw bad(`"${item}" is not a PCR 0–23`);
    }
    return { hash: alg.id, bank: alg.name, pcrs: [...set].sort((a, b) => a - b) };
  });
}

/** The tpm2-tools text of a selection, `sha256:0,1+sha1:7`. */
export function formatPcrList(sel: readonly Pick<PcrSelection, 'bank' | 'pcrs'>[]): string {
  return sel.map((s) => `${s.bank}:${s.pcrs.join(',')}`).join('+');
}
