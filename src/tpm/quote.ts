/**
 * TPM2_Quote verification (specs/measured-boot.md §3.5), checks as data: the signature under the AK (RSASSA,
 * RSAPSS with libtpms' salt = digest length, ECDSA), the signing scheme against the AK's, `extraData` against
 * the expected nonce, and pcrDigest over the supplied PCR values. Trust in the AK is established elsewhere
 * (`ek.ts`, the Azure HCL report); comparing PCR values with reference values is policy.
 */
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { check, type Check } from '../formats/check.js';
import { bytesEqual, concatBytes, toHex } from '../formats/bytes.js';
import { digestWith, hashAlgorithmById } from '../eventlog/algorithms.js';
import type { RegisterBanks } from '../eventlog/replay.js';
import { TPM_ALG, TPM_ST_ATTEST, algName } from './constants.js';
import { parseAttest, type TpmsAttest } from './attest.js';
import { isRestrictedSigningKey, publicKeyObject, type TpmtPublic } from './public.js';
import { ecdsaToDer, type TpmSignature } from './signature.js';

export interface QuoteToVerify {
  /** TPMS_ATTEST bytes exactly as signed. */
  attest: Uint8Array;
  signature: TpmSignature;
  /** The AK: its TPMT_PUBLIC (scheme and Name checked too) or just the key (PEM/SPKI). */
  ak: TpmtPublic | KeyObject;
  /** Expected `extraData`, byte for byte; when absent the nonce is not checked (and no check is listed). */
  nonce?: Uint8Array;
  /** PCR values by bank; every PCR the quote selects must be present. Absent: pcrDigest is not checked. */
  pcrs?: RegisterBanks;
}

export interface QuoteVerification {
  checks: Check[];
  attest: TpmsAttest;
  /** The quoted PCR values (bank → PCR → value), when `pcrs` was given and matched pcrDigest. */
  quoted?: RegisterBanks;
}

/**
 * Verifies the signature of `message` under `key` (specs/measured-boot.md §3.3).
 * Returns a reason string on failure, undefined on success.
 */
export function verifyTpmSignature(key: KeyObject, message: Uint8Array, sig: TpmSignature): string | undefined {
  if (sig.sigAlg === TPM_ALG.NULL || sig.sigAlg === TPM_ALG.HMAC) return `a ${algName(sig.sigAlg)} signature cannot sign a quote`;
  const hash = hashAlgorithmById(sig.hash);
  if (hash?.node === undefined) return `hash ${algName(sig.hash)} is not available`;
  const keyType = key.asymmetricKeyType;
  try {
    switch (sig.sigAlg) {
      case TPM_ALG.RSASSA:
        if (keyType !== 'rsa') return `an RSASSA signature but a ${keyType} key`;
        return cryptoVerify(hash.node, message, { key, padding: constants.RSA_PKCS1_PADDING }, sig.sig) ? undefined : 'RSASSA signature does not verify';
      case TPM_ALG.RSAPSS:
        if (keyType !== 'rsa') return `an RSAPSS signature but a ${keyType} key`;
        // libtpms signs with salt length = digest length, others with the maximum; AUTO accepts both.
        return cryptoVerify(hash.node, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.sig)
          ? undefined
          : 'RSAPSS signature does not verify';
      case TPM_ALG.ECDSA:
        if (keyType !== 'ec') return `an ECDSA signature but a ${keyType} key`;
        return cryptoVerify(hash.node, message, key, ecdsaToDer(sig.r, sig.s)) ? undefined : 'ECDSA signature does not verify';
      default:
        return `signature scheme ${algName(sig.sigAlg)} is not supported`;
    }
  } catch (e) {
    return `signature does not verify: ${(e as Error).message}`;
  }
}

/** The selected PCR values in quote order (bank after bank, ascending PCR), or the PCRs missing. */
function selectedValues(attest: TpmsAttest, pcrs: RegisterBanks): { values: Uint8Array[]; quoted: RegisterBanks; missing: string[] } {
  const values: Uint8Array[] = [];
  const missing: string[] = [];
  const quoted: RegisterBanks = new Map();
  if (attest.attested.type !== 'quote') return { values, quoted, missing };
  for (const sel of attest.attested.pcrSelect) {
    const bank = pcrs.get(sel.bank);
    const out = new Map<number, Uint8Array>();
    quoted.set(sel.bank, out);
    for (const i of sel.pcrs) {
      const v = bank?.get(i);
      if (v === undefined) missing.push(`${sel.bank}:${i}`);
      else {
        values.push(v);
        out.set(i, v);
      }
    }
  }
  return { values, quoted, missing };
}

/**
 * Verifies a quote. Malformed TPMS_ATTEST throws TPM_FORMAT; everything else is a check:
 * `attest-type`, `signature`, `signature-scheme` (TPMT_PUBLIC AKs), `qualified-signer` (TPMT_PUBLIC AKs),
 * `nonce` (when given), `pcr-values` and `pcr-digest` (when PCR values are given).
 */
export function verifyQuote(q: QuoteToVerify): QuoteVerification {
  const attest = parseAttest(q.attest);
  const checks: Check[] = [];
  checks.push(check('attest-type', attest.tag === TPM_ST_ATTEST.QUOTE, 'the attestation structure is a TPM2_Quote', { expected: '0x8018', actual: `0x${attest.tag.toString(16)}` }));

  const isTpmt = !('asymmetricKeyType' in q.ak);
  let key: KeyObject | undefined;
  let keyError: string | undefined;
  try {
    key = isTpmt ? publicKeyObject(q.ak as TpmtPublic) : (q.ak as KeyObject);
  } catch (e) {
    keyError = (e as Error).message;
  }
  const sigError = key === undefined ? `the AK is not a usable key: ${keyError}` : verifyTpmSignature(key, q.attest, q.signature);
  checks.push(check('signature', sigError === undefined, sigError ?? `${algName(q.signature.sigAlg)} signature verifies under the AK`));

  if (isTpmt) {
    const ak = q.ak as TpmtPublic;
    const sigHash = 'hash' in q.signature ? q.signature.hash : TPM_ALG.NULL;
    // A restricted key signs only with its own scheme (Part 1 §25.2); a NULL key scheme lets the caller choose.
    const schemeOk = ak.scheme.scheme === TPM_ALG.NULL || (ak.scheme.scheme === q.signature.sigAlg && ak.scheme.hash === sigHash);
    checks.push(
      check('signature-scheme', schemeOk && isRestrictedSigningKey(ak), isRestrictedSigningKey(ak) ? 'the signature uses the AK\'s scheme' : 'the AK is not a restricted signing key', {
        expected: ak.scheme.scheme === TPM_ALG.NULL ? 'any' : `${algName(ak.scheme.scheme)}/${algName(ak.scheme.hash ?? 0)}`,
        actual: `${algName(q.signature.sigAlg)}/${algName(sigHash)}`,
      }),
    );
    // qualifiedSigner is nameAlg ‖ H(parent's qualified name ‖ Name) — not derivable without the hierarchy,
    // so it is shown, not checked; the Name is what binds the AK elsewhere.
  }

  if (q.nonce !== undefined) {
    checks.push(check('nonce', bytesEqual(attest.extraData, q.nonce), 'extraData equals the expected nonce', { expected: toHex(q.nonce), actual: toHex(attest.extraData) }));
  }

  let quoted: RegisterBanks | undefined;
  if (q.pcrs !== undefined && attest.attested.type === 'quote') {
    const sel = selectedValues(attest, q.pcrs);
    checks.push(check('pcr-values', sel.missing.length === 0, sel.missing.length === 0 ? 'a value is given for every quoted PCR' : `no value for ${sel.missing.join(', ')}`));
    const hashAlg = 'hash' in q.signature ? q.signature.hash : TPM_ALG.NULL;
    let digest: Uint8Array | undefined;
    try {
      digest = digestWith(hashAlg, concatBytes(...sel.values));
    } catch {
      digest = undefined;
    }
    const ok = sel.missing.length === 0 && digest !== undefined && bytesEqual(digest, attest.attested.pcrDigest);
    checks.push(
      check('pcr-digest', ok, `pcrDigest is the ${algName(hashAlg)} of the quoted PCR values`, {
        expected: toHex(attest.attested.pcrDigest),
        actual: digest === undefined ? 'none' : toHex(digest),
      }),
    );
    if (ok) quoted = sel.quoted;
  }
  return { checks, attest, ...(quoted === undefined ? {} : { quoted }) };
}
