/**
 * Endorsement Key certificates (TCG EK Credential Profile §2.2.1.5; specs/measured-boot.md §3.8): the
 * certificate a TPM manufacturer (or swtpm_setup's local CA) stores in NV (RSA 2048 at 0x01c00002, ECC P-256
 * at 0x01c0000a, P-384 at 0x01c00016), checked up to configured roots at an injected time.
 */
import { X509Certificate } from 'node:crypto';
import { check, type Check } from '../formats/check.js';
import { CocoError } from '../errors.js';
import type { TpmtPublic } from './public.js';
import { publicKeyObject } from './public.js';

/** NV indices of EK certificates (EK Credential Profile §2.2.1.5.1/.2). */
export const EK_CERT_NV_INDEX = { rsa2048: 0x01c00002, eccP256: 0x01c0000a, eccP384: 0x01c00016, rsa3072: 0x01c0001c, rsa4096: 0x01c0001e } as const;

/** The OID of `tcg-kp-EKCertificate` (EK Credential Profile §3.2.16), the EK certificate's extended key usage. */
export const TCG_KP_EK_CERTIFICATE = '2.23.133.8.1';

export interface EkChainOptions {
  /** Trust anchors (manufacturer roots). */
  roots: readonly X509Certificate[];
  /** Intermediate CAs (the issuing CA, when the EK certificate does not carry an AIA the verifier follows). */
  intermediates?: readonly X509Certificate[];
  now: Date;
  /** When given, the certificate's key must be this EK. */
  ekPublic?: TpmtPublic;
}

export interface EkVerification {
  checks: Check[];
  certificate: X509Certificate;
  /** Subjects from the EK up to the root, when a chain was found. */
  chain: string[];
}

/**
 * Loads a DER or PEM certificate.
 * @throws CocoError TPM_EK_CERT (kind `input`)
 */
export function loadEkCertificate(bytes: Uint8Array): X509Certificate {
  try {
    // Some TPMs pad the NV area after the DER; X509Certificate wants exactly one certificate.
    let der = bytes;
    if (bytes[0] === 0x30 && bytes[1] === 0x82) der = bytes.subarray(0, 4 + ((bytes[2] << 8) | bytes[3]));
    return new X509Certificate(der);
  } catch (e) {
    throw new CocoError('TPM_EK_CERT', `not an X.509 certificate: ${(e as Error).message}`, { kind: 'input', cause: e });
  }
}

function within(c: X509Certificate, now: Date): boolean {
  return new Date(c.validFrom) <= now && now <= new Date(c.validTo);
}

/** Checks `ek-chain`, `ek-validity`, `ek-usage` and (when asked) `ek-public`. */
export function verifyEkCertificate(cert: X509Certificate, opts: EkChainOptions): EkVerification {
  const checks: Check[] = [];
  const pool = [...(opts.intermediates ?? []), ...opts.roots];
  const chain: X509Certificate[] = [cert];
  let anchored = false;
  for (let depth = 0; depth < 8 && !anchored; depth++) {
    const cur = chain[chain.length - 1];
    const issuer = pool.find((c) => !chain.includes(c) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (issuer === undefined) break;
    chain.push(issuer);
    anchored = opts.roots.includes(issuer);
  }
  checks.push(
    check('ek-chain', anchored, anchored ? 'the EK certificate chains to a configured root' : 'the EK certificate does not chain to a configured root', {
      actual: chain.map((c) => c.subject || '(empty subject)').join(' ← '),
    }),
  );
  const expired = chain.filter((c) => !within(c, opts.now));
  checks.push(check('ek-validity', expired.length === 0, expired.length === 0 ? `every certificate is valid at ${opts.now.toISOString()}` : `not valid at ${opts.now.toISOString()}: ${expired.map((c) => c.subject || c.serialNumber).join(', ')}`));
  const eku = cert.keyUsage ?? [];
  checks.push(check('ek-usage', eku.includes(TCG_KP_EK_CERTIFICATE), 'the certificate is marked as an EK certificate (tcg-kp-EKCertificate)', { actual: eku.join(',') || 'none' }));
  if (opts.ekPublic !== undefined) {
    let same = false;
    try {
      same = publicKeyObject(opts.ekPublic).equals(cert.publicKey);
    } catch {
      same = false;
    }
    checks.push(check('ek-public', same, 'the certificate certifies this EK'));
  }
  return { checks, certificate: cert, chain: chain.map((c) => c.subject) };
}
