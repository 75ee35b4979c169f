/**
 * TPMT_SIGNATURE (Part 2 §11.3.4, specs/measured-boot.md §3.3) and the "plain" signatures tpm2-tools and
 * Azure/Trustee exchange (raw RSA bytes, DER ECDSA-Sig-Value).
 */
import { CocoError } from '../errors.js';
import { hashAlgorithmById } from '../eventlog/algorithms.js';
import { TPM_ALG, algName } from './constants.js';
import { parseWith, tpmFormatError, TpmWriter } from './wire.js';

export type TpmSignature =
  | { sigAlg: typeof TPM_ALG.RSASSA | typeof TPM_ALG.RSAPSS; hash: number; sig: Uint8Array }
  | { sigAlg: typeof TPM_ALG.ECDSA | typeof TPM_ALG.SM2 | typeof TPM_ALG.ECSCHNORR; hash: number; r: Uint8Array; s: Uint8Array }
  | { sigAlg: typeof TPM_ALG.ECDAA; hash: number; count: number; r: Uint8Array; s: Uint8Array }
  | { sigAlg: typeof TPM_ALG.HMAC; hash: number; digest: Uint8Array }
  | { sigAlg: typeof TPM_ALG.NULL };

/**
 * Parses a marshaled TPMT_SIGNATURE (`tpm2_quote -s`, tss format).
 * @throws CocoError TPM_FORMAT: truncation, an unknown scheme, an unknown hash, or trailing bytes
 */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  return parseWith(bytes, 'TPMT_SIGNATURE', (r) => {
    const sigAlg = r.u16be();
    let out: TpmSignature;
    if (sigAlg === TPM_ALG.NULL) out = { sigAlg };
    else {
      const hash = r.u16be();
      const alg = hashAlgorithmById(hash);
      if (alg === undefined) throw tpmFormatError(r.what, `hash ${algName(hash)} is not a hash algorithm`);
      switch (sigAlg) {
        case TPM_ALG.RSASSA:
        case TPM_ALG.RSAPSS:
          // TPM2B_PUBLIC_KEY_RSA holds at most MAX_RSA_KEY_BYTES (512 for 4096-bit keys).
          out = { sigAlg, hash, sig: r.tpm2b('sig', 512) };
          break;
        case TPM_ALG.ECDSA:
        case TPM_ALG.SM2:
        case TPM_ALG.ECSCHNORR:
          out = { sigAlg, hash, r: r.tpm2b('signatureR', 66), s: r.tpm2b('signatureS', 66) };
          break;
        case TPM_ALG.ECDAA:
          out = { sigAlg, hash, count: r.u16be(), r: r.tpm2b('signatureR', 66), s: r.tpm2b('signatureS', 66) };
          break;
        case TPM_ALG.HMAC:
          out = { sigAlg, hash, digest: r.take(alg.size) };
          break;
        default:
          throw tpmFormatError(r.what, `sigAlg ${algName(sigAlg)} is not a signature scheme`);
      }
    }
    r.end();
    return out;
  });
}

export function encodeSignature(sig: TpmSignature): Uint8Array {
  const w = new TpmWriter();
  w.u16be(sig.sigAlg);
  if (sig.sigAlg === TPM_ALG.NULL) return w.finish();
  w.u16be(sig.hash);
  if ('sig' in sig) w.tpm2b(sig.sig);
  else if ('digest' in sig) w.bytes(sig.digest);
  else {
    if (sig.sigAlg === TPM_ALG.ECDAA) w.u16be(sig.count);
    w.tpm2b(sig.r).tpm2b(sig.s);
  }
  return w.finish();
}

function derInt(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v.subarray(i);
  const pad = body[0] & 0x80 ? [0] : [];
  return Uint8Array.from([0x02, body.length + pad.length, ...pad, ...body]);
}

/** DER `ECDSA-Sig-Value` of r and s (what `tpm2_quote -f plain` writes for ECC keys). */
export function ecdsaToDer(r: Uint8Array, s: Uint8Array): Uint8Array {
  const body = Uint8Array.from([...derInt(r), ...derInt(s)]);
  if (body.length > 0x7f) return Uint8Array.from([0x30, 0x81, body.length, ...body]);
  return Uint8Array.from([0x30, body.length, ...body]);
}

/**
 * r and s from a DER `ECDSA-Sig-Value`.
 * @throws CocoError TPM_FORMAT: not a SEQUENCE of two small INTEGERs
 */
export function ecdsaFromDer(der: Uint8Array): { r: Uint8Array; s: Uint8Array } {
  const bad = () => new CocoError('TPM_FORMAT', 'ECDSA signature: not a DER SEQUENCE of two INTEGERs', { kind: 'input' });
  let i = 0;
  if (der[i++] !== 0x30) throw bad();
  let len = der[i++];
  if (len === 0x81) len = der[i++];
  else if (len === undefined || len > 0x7f) throw bad();
  if (i + len !== der.length) throw bad();
  const ints: Uint8Array[] = [];
  for (let k = 0; k < 2; k++) {
    if (der[i++] !== 0x02) throw bad();
    const l = der[i++];
    if (l === undefined || l === 0 || l > 67 || i + l > der.length) throw bad();
    ints.push(der.subarray(i, i + l));
    i += l;
  }
  if (i !== der.length) throw bad();
  return { r: ints[0], s: ints[1] };
}
