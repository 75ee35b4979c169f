/**
 * Big-endian TPM 2.0 marshaling (Part 1 §18, specs/measured-boot.md §3.1): `TPM2B_x` is a u16 size then the
 * bytes, `TPML_x` a u32 count then the elements. Every structure error is a `TPM_FORMAT` CocoError naming
 * the structure, never an out-of-range read.
 */
import { CocoError } from '../errors.js';
import { ByteReader, ByteWriter } from '../formats/reader.js';

export function tpmFormatError(what: string, message: string, detail?: unknown): CocoError {
  return new CocoError('TPM_FORMAT', `${what}: ${message}`, { kind: 'input', ...(detail === undefined ? {} : { detail }) });
}

/** A ByteReader whose truncation errors become TPM_FORMAT. */
export class TpmReader extends ByteReader {
  /** TPM2B: u16 size then bytes; `max` bounds the size (the union or buffer size of the TPM2B type). */
  tpm2b(field: string, max = 0xffff): Uint8Array {
    const size = this.u16be();
    if (size > max) throw tpmFormatError(this.what, `${field} has ${size} bytes, more than the ${max} its type holds`);
    return this.take(size);
  }
  /** Throws unless every byte was consumed (a TPM structure is never followed by slack). */
  end(): void {
    if (this.remaining !== 0) throw tpmFormatError(this.what, `${this.remaining} byte(s) after the end of the structure`);
  }
}

/** Runs `parse` with a TpmReader over `bytes`, turning truncation into TPM_FORMAT. */
export function parseWith<T>(bytes: Uint8Array, what: string, parse: (r: TpmReader) => T): T {
  const r = new TpmReader(bytes, what);
  try {
    return parse(r);
  } catch (e) {
    if (e instanceof CocoError && e.code === 'FORMAT_TRUNCATED') throw new CocoError('TPM_FORMAT', e.message, { kind: 'input', cause: e, detail: e.detail });
    throw e;
  }
}

export class TpmWriter extends ByteWriter {
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new CocoError('TPM_ENCODE', `a TPM2B holds at most 65535 bytes, not ${b.length}`, { kind: 'usage' });
    return this.u16be(b.length).bytes(b);
  }
}
