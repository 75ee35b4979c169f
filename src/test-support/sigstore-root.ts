/**
 * A throwaway Sigstore deployment for tests: a self-signed CA standing in for Fulcio, a key standing in for
 * Rekor, a TrustedRoot JSON naming both, and bundles (v0.1, v0.2, v0.3) of DSSE-enveloped in-toto
 * Statements signed with a short-lived leaf certificate that carries an identity (SAN URI + the Fulcio OIDC
 * issuer extension) and logged as a `dsse` 0.0.1 entry with a signed entry timestamp (SET) and, from v0.2 on,
 * an inclusion proof with a signed checkpoint.
 *
 * Every piece can be swapped for a bad one (another CA, another identity, a log entry signed by another
 * key, no entry) so tests can show each check refuse it.
 */
import { createHash, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { canonicalize } from '../formats/jcs.js';
import { bitString, boolean, der, explicit, extension, integer, name, oid, seq, time, utf8String } from '../formats/x509-build.js';
import { CYCLONEDX_PREDICATE, INTOTO_PAYLOAD_TYPE, dssePae } from '../attestation/signed-statement.js';

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const genKey = promisify(generateKeyPair);

type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const p256 = async (): Promise<Pair> => (await genKey('ec', { namedCurve: 'P-256' })) as Pair;
const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

interface Ca {
  name: Uint8Array;
  key: Pair;
  cert: Uint8Array;
}

let serial = 1n;

function certificate(o: { issuer: Uint8Array; subject: Uint8Array; key: KeyObject; signer: KeyObject; notBefore: Date; notAfter: Date; exts: Uint8Array[] }): Uint8Array {
  const tbs = seq(explicit(0, integer(2)), integer(serial++), ECDSA_SHA256, o.issuer, seq(time(o.notBefore), time(o.notAfter)), o.subject, new Uint8Array(spki(o.key)), explicit(3, seq(...o.exts)));
  return seq(tbs, ECDSA_SHA256, bitString(new Uint8Array(sign('sha256', tbs, o.signer))));
}

/** A self-signed CA named like a Fulcio root (the name alone earns no trust: the key signs). */
export async function makeCa(cn = 'sigstore'): Promise<Ca> {
  const key = await p256();
  const n = name([
    ['2.5.4.10', 'sigstore.dev'],
    ['2.5.4.3', cn],
  ]);
  const now = Date.now();
  const cert = certificate({
    issuer: n,
    subject: n,
    key: key.publicKey,
    signer: key.privateKey,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 365 * 86_400_000),
    exts: [extension('2.5.29.19', true, seq(boolean(true))), extension('2.5.29.15', true, new Uint8Array([0x03, 0x02, 0x01, 0x06]))],
  });
  return { name: n, key, cert };
}

export interface Identity {
  /** The SAN (a URI, as Fulcio writes for workflow identities). */
  san: string;
  issuer: string;
}

/** A Fulcio-style leaf: empty subject, SAN URI, code-signing EKU, OIDC issuer extension (v2, UTF8String). */
function leafCertificate(ca: Ca, key: KeyObject, who: Identity, at: Date): Uint8Array {
  const san = seq(der(0x86, new Uint8Array(Buffer.from(who.san, 'latin1'))));
  return certificate({
    issuer: ca.name,
    subject: seq(),
    key,
    signer: ca.key.privateKey,
    notBefore: new Date(at.getTime() - 60_000),
    notAfter: new Date(at.getTime() + 600_000),
    exts: [
      extension('2.5.29.15', true, new Uint8Array([0x03, 0x02, 0x07, 0x80])),
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.3'))),
      extension('2.5.29.17', true, san),
      extension(FULCIO_ISSUER_V2, false, utf8String(who.issuer)),
    ],
  });
}

export interface SigstoreDeployment {
  ca: Ca;
  rekor: Pair;
  /** `trusted_root.json` naming this CA and this Rekor key. */
  trustedRoot: Record<string, unknown>;
}

export async function makeDeployment(): Promise<SigstoreDeployment> {
  const ca = await makeCa();
  const rekor = await p256();
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test.invalid',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: b64(spki(rekor.publicKey)), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2020-01-01T00:00:00Z' } },
        logId: { keyId: b64(createHash('sha256').update(spki(rekor.publicKey)).digest()) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.dev', commonName: 'sigstore' },
        uri: 'https://fulcio.test.invalid',
        certChain: { certificates: [{ rawBytes: b64(ca.cert) }] },
        validFor: { start: '2020-01-01T00:00:00Z' },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  };
  return { ca, rekor, trustedRoot };
}

export interface BundleOptions {
  /** Statement JSON (the DSSE payload). */
  statement: unknown;
  who: Identity;
  /** Signs the leaf; default the deployment's CA. */
  ca?: Ca;
  /** Signs the SET and the checkpoint; default the deployment's Rekor key. */
  rekorKey?: KeyObject;
  /** Bundle version: 0.1 (inclusion promise, cert chain), 0.2 (cert chain), 0.3 (single certificate). */
  version?: '0.1' | '0.2' | '0.3';
  /** Signs the checkpoint only; default as `rekorKey`. */
  checkpointKey?: KeyObject;
  /** v0.2 / v0.3: log the entry with an inclusion proof only, no inclusion promise (SET). */
  noPromise?: boolean;
  /** Leave the transparency-log entry out. */
  noTlog?: boolean;
  /** Alter the payload after signing and logging. */
  tamper?: (payload: Buffer) => Buffer;
}

const MEDIA_TYPES = {
  '0.1': 'application/vnd.dev.sigstore.bundle+json;version=0.1',
  '0.2': 'application/vnd.dev.sigstore.bundle+json;version=0.2',
  '0.3': 'application/vnd.dev.sigstore.bundle.v0.3+json',
};

/** Signs a Statement as `who` and logs it: the bundle JSON cosign would write (`cosign attest --bundle`). */
export async function makeBundle(d: SigstoreDeployment, o: BundleOptions): Promise<Record<string, unknown>> {
  const at = new Date(Math.floor(Date.now() / 1000) * 1000);
  const signing = await p256();
  const leaf = leafCertificate(o.ca ?? d.ca, signing.publicKey, o.who, at);
  const payload = Buffer.from(JSON.stringify(o.statement));
  const sig = sign('sha256', dssePae(INTOTO_PAYLOAD_TYPE, payload), signing.privateKey);
  const leafPem = `-----BEGIN CERTIFICATE-----\n${b64(leaf)}\n-----END CERTIFICATE-----\n`;
  // Rekor's dsse 0.0.1 entry body: the payload hash and the signature with its verifier.
  const body = Buffer.from(
    canonicalize({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
        payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
        signatures: [{ signature: sig.toString('base64'), verifier: Buffer.from(leafPem).toString('base64') }],
      },
    }),
  );
  const logId = createHash('sha256').update(spki(d.rekor.publicKey)).digest();
  const integratedTime = Math.floor(at.getTime() / 1000);
  const logIndex = 4242;
  const set = sign('sha256', Buffer.from(canonicalize({ body: body.toString('base64'), integratedTime, logIndex, logID: logId.toString('hex') })), o.rekorKey ?? d.rekor.privateKey);
  const version = o.version ?? '0.3';
  // RFC 6962 tree of two leaves, this entry second: the proof is the first leaf's hash; the checkpoint is
  // a signed note over origin, size and root hash, signed by the log key (key hint: log id's first 4 bytes).
  const sibling = createHash('sha256').update(Buffer.from([0])).update('an earlier entry').digest();
  const leafHash = createHash('sha256').update(Buffer.from([0])).update(body).digest();
  const rootHash = createHash('sha256').update(Buffer.from([1])).update(sibling).update(leafHash).digest();
  const note = `rekor.test.invalid - 1193050959916656506\n2\n${rootHash.toString('base64')}\n`;
  const noteSig = sign('sha256', Buffer.from(note), o.checkpointKey ?? o.rekorKey ?? d.rekor.privateKey);
  const checkpoint = `${note}\n\u2014 rekor.test.invalid ${Buffer.concat([logId.subarray(0, 4), noteSig]).toString('base64')}\n`;
  const entry = {
    logIndex: String(logIndex),
    logId: { keyId: logId.toString('base64') },
    kindVersion: { kind: 'dsse', version: '0.0.1' },
    integratedTime: String(integratedTime),
    ...(o.noPromise && version !== '0.1' ? {} : { inclusionPromise: { signedEntryTimestamp: set.toString('base64') } }),
    ...(version === '0.1' ? {} : { inclusionProof: { logIndex: '1', rootHash: rootHash.toString('base64'), treeSize: '2', hashes: [sibling.toString('base64')], checkpoint: { envelope: checkpoint } } }),
    canonicalizedBody: body.toString('base64'),
  };
  const shipped = o.tamper ? o.tamper(payload) : payload;
  return {
    mediaType: MEDIA_TYPES[version],
    verificationMaterial: {
      ...(version === '0.3' ? { certificate: { rawBytes: b64(leaf) } } : { x509CertificateChain: { certificates: [{ rawBytes: b64(leaf) }] } }),
      tlogEntries: o.noTlog ? [] : [entry],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: { payload: shipped.toString('base64'), payloadType: INTOTO_PAYLOAD_TYPE, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
  };
}

/**
 * An in-toto statement over `guest.qcow2` whose CycloneDX SBOM lists `firmware` (name, version) carrying the
 * expected SNP measurement as a property, and openssl beside it: what a build signs in the suites.
 */
export function cycloneDxStatement(firmware: { name: string; version: string }, measurement: string) {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'guest.qcow2', digest: { sha256: '31'.repeat(32) } }],
    predicateType: CYCLONEDX_PREDICATE,
    predicate: {
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      components: [
        { ...firmware, properties: [{ name: 'cocokit:reference-value:measurement', value: measurement }] },
        { name: 'openssl', version: '3.0.13' },
      ],
    },
  };
}
