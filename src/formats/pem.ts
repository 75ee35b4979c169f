/**
 * PEM certificates (RFC 7468 §5): the DER bytes of every `CERTIFICATE` block of a text, in order. Text between
 * blocks (explanatory lines, as openssl writes them) is ignored; callers that must refuse it check themselves.
 */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

export function pemCertificates(text: string): Uint8Array[] {
  return [...text.matchAll(CERTIFICATE_BLOCK)].map((m) => new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')));
}
