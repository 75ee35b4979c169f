/**
 * The attestation-token signer: ES256 over P-256 only (Trustee rejects other signer keys, specs/kbs-protocol.md
 * §2.2), header `{"typ":"JWT","alg":"ES256","jwk":{…}}` with the public key (and `x5c` when a chain is given).
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { CocoError } from '../errors.js';
import { generateEcKey, publicJwkMembers } from '../formats/jwk.js';

export interface SignerJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  alg: 'ES256';
  x5c?: string[];
}

export class TokenSigner {
  readonly privateKey: KeyObject;
  readonly jwk: SignerJwk;
  /** The protected header, base64url-encoded: the same for every token of this signer. */
  private readonly header: string;

  constructor(privateKey: KeyObject, x5c?: string[]) {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CocoError('AS_SIGNER_KEY', 'the token signer key must be EC P-256', { kind: 'usage' });
    }
    // DER, not a JWK export: see `publicJwkMembers` (a generated key's JWK export can hang Node 20).
    const pub = publicJwkMembers(createPublicKey(privateKey));
    if (pub.kty !== 'EC' || pub.crv !== 'P-256') throw new CocoError('AS_SIGNER_KEY', 'the token signer key must be EC P-256', { kind: 'usage' });
    this.privateKey = privateKey;
    this.jwk = { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, alg: 'ES256', ...(x5c?.length ? { x5c } : {}) };
    this.header = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256', jwk: this.jwk })).toString('base64url');
  }

  static fromPem(pem: string | Uint8Array, x5c?: string[]): TokenSigner {
    try {
      return new TokenSigner(createPrivateKey(typeof pem === 'string' ? pem : Buffer.from(pem)), x5c);
    } catch (e) {
      if (e instanceof CocoError) throw e;
      throw new CocoError('AS_SIGNER_KEY', `token signer key is not a PEM private key: ${(e as Error).message}`, { kind: 'input', cause: e });
    }
  }

  static generate(): TokenSigner {
    return new TokenSigner(generateEcKey('P-256').privateKey);
  }

  pem(): string {
    return this.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /**
   * A compact JWS (RFC 7515 §7.1) over the JSON of `claims`: ES256 with the signature as r‖s (RFC 7518
   * §3.4). One node:crypto signature and two base64url encodings; the header is encoded once per signer.
   */
  async sign(claims: Record<string, unknown>): Promise<string> {
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new CocoError('AS_TOKEN_CLAIMS', 'attestation token claims must be a JSON object', { kind: 'internal' });
    }
    const input = `${this.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = cryptoSign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
}
