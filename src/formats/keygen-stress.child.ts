/**
 * Child process of keygen-stress.test.ts: for `argv[2]` ms in total, loops the KBS's resource encryption (a
 * fresh ephemeral EC key per response), the token signer's key generation, the guest's TEE key generation, and
 * Ed25519 and RSA key pairs exported as JWK, PEM and DER, one phase after the other. Before each step a varying
 * number of small allocations moves the point where the next young-generation collection falls, so collections
 * sweep across every allocation inside a key export. Names each phase on stderr as it starts, prints the iteration counts and exits; a hang never exits.
 */
import { TokenSigner } from '../attestation/signer.js';
import { decryptWithTeeKey, encryptToTeeKey } from './jwe.js';
import { generateTeeKeyPair } from './jwk.js';
import { safeKeyPair } from './keygen.js';

const phaseMs = Number(process.argv[2] ?? 5000) / 5;
const plaintext = new Uint8Array(64).fill(7);
const p256 = generateTeeKeyPair('ec-p256');
const p521 = generateTeeKeyPair('ec-p521');
let sink: unknown = null;
let seed = 0x2545f491;

function loop(step: (i: number) => void): number {
  const end = Date.now() + phaseMs;
  let n = 0;
  while (Date.now() < end) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    for (let k = seed >>> 24; k > 0; k--) sink = [k];
    step(n++);
  }
  return n;
}

function resourceJwe(i: number): void {
  const tee = i % 32 === 31 ? p521 : p256;
  const jwe = encryptToTeeKey(plaintext, tee.publicJwk);
  if (i % 64 === 0 && decryptWithTeeKey(jwe, tee.privateKey)[0] !== 7) throw new Error('round trip failed');
}

const phases: [string, (i: number) => void][] = [
  ['resource JWE', resourceJwe],
  ['token signer key', () => TokenSigner.generate()],
  ['guest TEE key', (i) => generateTeeKeyPair(i % 32 === 31 ? 'ec-p521' : 'ec-p256')],
  // The admin key of a fresh data directory, and the key types no ECDH can make.
  [
    'Ed25519 key',
    () => {
      const k = safeKeyPair('ed25519');
      sink = [k.privateKey.export({ format: 'pem', type: 'pkcs8' }), k.publicKey.export({ format: 'jwk' })];
    },
  ],
  [
    'RSA key',
    () => {
      const k = safeKeyPair('rsa', { modulusLength: 512 });
      sink = [k.privateKey.export({ format: 'jwk' }), k.publicKey.export({ format: 'der', type: 'spki' })];
    },
  ],
];
const counts: number[] = [];
for (const [name, step] of phases) {
  process.stderr.write(`${name}\n`);
  counts.push(loop(step));
}
process.stdout.write(`${counts.join(' ')}${sink === null ? ' (no allocations)' : ''}\n`);
