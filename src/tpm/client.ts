/**
 * A TPM 2.0 client speaking the command protocol (TPM 2.0 Part 3) over a `TpmTransport`: the commands a
 * guest attester needs — PCR_Read, PCR_Extend, CreatePrimary / Create / Load for an attestation key, Quote,
 * ReadPublic, NV_ReadPublic / NV_Read (EK certificates, the Azure HCL report), NV_DefineSpace / NV_Write,
 * FlushContext. Authorization is the empty-password session (TPM_RS_PW), which is what hierarchies, PCRs and
 * keys without an authValue accept.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CocoError } from '../errors.js';
import { hashAlgorithmById, hashAlgorithmName } from '../eventlog/algorithms.js';
import type { RegisterBanks } from '../eventlog/replay.js';
import { parseAttest, type TpmsAttest } from './attest.js';
import { readPcrSelection, writePcrSelection, type PcrSelection } from './pcr-selection.js';
import { encodeTpmtPublic, parseTpmtPublic, type TpmtPublic } from './public.js';
import { parseSignature, type TpmSignature } from './signature.js';
import type { TpmTransport } from './transport.js';
import { parseWith, tpmFormatError, TpmReader, TpmWriter } from './wire.js';

/** TPM_CC values (Part 2 §6.5.2). */
export const TPM_CC = {
  NV_DefineSpace: 0x12a,
  CreatePrimary: 0x131,
  NV_Write: 0x137,
  Startup: 0x144,
  NV_Read: 0x14e,
  Create: 0x153,
  Load: 0x157,
  Quote: 0x158,
  FlushContext: 0x165,
  NV_ReadPublic: 0x169,
  ReadPublic: 0x173,
  PCR_Read: 0x17e,
  PCR_Extend: 0x182,
  NV_UndefineSpace: 0x122,
  EvictControl: 0x120,
  GetCapability: 0x17a,
} as const;

/** Permanent handles (Part 2 §7.4). */
export const TPM_RH = { OWNER: 0x40000001, NULL: 0x40000007, ENDORSEMENT: 0x4000000b, PLATFORM: 0x4000000c, PW: 0x40000009 } as const;

const RETRY_CODES = new Set([0x922, 0x908, 0x90a]);
const ST_NO_SESSIONS = 0x8001;
const ST_SESSIONS = 0x8002;

export class TpmResponseError extends CocoError {
  readonly rc: number;
  constructor(command: string, rc: number) {
    super('TPM_RC', `${command} failed with TPM response code 0x${rc.toString(16).padStart(3, '0')}${describeRc(rc)}`, { kind: 'unavailable', detail: { rc } });
    this.rc = rc;
  }
}

/** A short reading of a response code (Part 2 §6.6): the format-one error number and what it refers to. */
function describeRc(rc: number): string {
  if ((rc & 0x80) === 0) return '';
  const err = rc & 0x3f;
  const names: Record<number, string> = { 0x01: 'ASYMMETRIC', 0x02: 'ATTRIBUTES', 0x03: 'HASH', 0x04: 'VALUE', 0x05: 'HIERARCHY', 0x0b: 'HANDLE', 0x0d: 'KEY_SIZE', 0x12: 'SCHEME', 0x15: 'SIZE', 0x18: 'TYPE', 0x1c: 'KDF', 0x22: 'AUTH_FAIL', 0x26: 'POLICY_FAIL' };
  const where = rc & 0x40 ? `parameter ${(rc >> 8) & 0xf}` : rc & 0x800 ? `session ${(rc >> 8) & 0x7}` : `handle ${(rc >> 8) & 0x7}`;
  return ` (TPM_RC_${names[err] ?? `0x${err.toString(16)}`}, ${where})`;
}

interface CommandSpec {
  code: number;
  name: string;
  /** Handles in the handle area; those with `auth` get an empty-password session each, in order. */
  handles?: { handle: number; auth?: boolean }[];
  params?: (w: TpmWriter) => void;
  /** Handles returned in the response's handle area. */
  responseHandles?: number;
}

export interface CreatedObject {
  handle?: number;
  public: TpmtPublic;
  /** Marshaled TPMT_PUBLIC as the TPM returned it. */
  publicBytes: Uint8Array;
  /** TPM2B_PRIVATE (TPM2_Create only), to load the key again later. */
  private?: Uint8Array;
  name?: Uint8Array;
}

export interface Quote {
  /** TPMS_ATTEST bytes, as signed. */
  attest: Uint8Array;
  signature: TpmSignature;
  /** Marshaled TPMT_SIGNATURE. */
  signatureBytes: Uint8Array;
  parsed: TpmsAttest;
}

export interface NvPublic {
  index: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Uint8Array;
  dataSize: number;
}

export class TpmClient {
  constructor(readonly transport: TpmTransport) {}

  /** Sends a command and returns the reader positioned at the response handles (sessions stripped). */
  private async call(spec: CommandSpec): Promise<{ handles: number[]; params: TpmReader }> {
    const handles = spec.handles ?? [];
    const authed = handles.filter((h) => h.auth);
    const w = new TpmWriter(512);
    w.u16be(authed.length > 0 ? ST_SESSIONS : ST_NO_SESSIONS).u32be(0).u32be(spec.code);
    for (const h of handles) w.u32be(h.handle);
    if (authed.length > 0) {
      // Part 1 §18.6: each TPMS_AUTH_COMMAND = handle, nonce, attributes, hmac (the password).
      w.u32be(authed.length * 9);
      for (let i = 0; i < authed.length; i++) w.u32be(TPM_RH.PW).u16be(0).u8(0).u16be(0);
    }
    spec.params?.(w);
    const cmd = w.finish();
    new DataView(cmd.buffer, cmd.byteOffset).setUint32(2, cmd.length);
    let resp = await this.transport.transmit(cmd);
    // TPM_RC_RETRY / YIELDED / TESTING (Part 2 §6.6.3) ask the caller to send the same command again.
    for (let attempt = 0; attempt < 50 && resp.length >= 10 && RETRY_CODES.has(new DataView(resp.buffer, resp.byteOffset).getUint32(6)); attempt++) {
      await sleep(Math.min(2 ** attempt, 50));
      resp = await this.transport.transmit(cmd);
    }
    return parseWith(resp, `${spec.name} response`, (r) => {
      const tag = r.u16be();
      const size = r.u32be();
      if (size !== resp.length) throw tpmFormatError(r.what, `size ${size} but ${resp.length} bytes received`);
      const rc = r.u32be();
      if (rc !== 0) throw new TpmResponseError(`TPM2_${spec.name}`, rc);
      const out: number[] = [];
      for (let i = 0; i < (spec.responseHandles ?? 0); i++) out.push(r.u32be());
      if (tag === ST_SESSIONS) {
        const paramSize = r.u32be();
        return { handles: out, params: new TpmReader(r.take(paramSize), r.what) };
      }
      return { handles: out, params: new TpmReader(r.take(r.remaining), r.what) };
    });
  }

  private static read<T>(p: TpmReader, f: (r: TpmReader) => T): T {
    try {
      return f(p);
    } catch (e) {
      if (e instanceof CocoError && e.code === 'FORMAT_TRUNCATED') throw new CocoError('TPM_FORMAT', e.message, { kind: 'input', cause: e });
      throw e;
    }
  }

  /** TPM2_Startup(CLEAR), for a simulator started without `startup-clear`. TPM_RC_INITIALIZE (already started) is ignored. */
  async startup(): Promise<void> {
    try {
      await this.call({ code: TPM_CC.Startup, name: 'Startup', params: (w) => w.u16be(0) });
    } catch (e) {
      if (!(e instanceof TpmResponseError && e.rc === 0x100)) throw e;
    }
  }

  /**
   * TPM2_PCR_Read for a selection, repeated until every PCR is read (a TPM returns at most 8 digests a call).
   */
  async pcrRead(selection: readonly Pick<PcrSelection, 'hash' | 'pcrs'>[]): Promise<RegisterBanks> {
    const out: RegisterBanks = new Map();
    const pending = selection.map((s) => ({ hash: s.hash, pcrs: [...s.pcrs] }));
    for (const s of pending) out.set(hashAlgorithmName(s.hash), new Map());
    for (let round = 0; pending.some((s) => s.pcrs.length > 0); round++) {
      if (round > 64) throw new CocoError('TPM_PCR_READ', 'the TPM keeps returning no PCR values', { kind: 'unavailable' });
      const sel = pending.filter((s) => s.pcrs.length > 0);
      const { params } = await this.call({ code: TPM_CC.PCR_Read, name: 'PCR_Read', params: (w) => writePcrSelection(w, sel) });
      TpmClient.read(params, (r) => {
        r.u32be(); // pcrUpdateCounter
        const got = readPcrSelection(r);
        const count = r.u32be();
        const values: Uint8Array[] = [];
        for (let i = 0; i < count; i++) values.push(r.tpm2b('digest', 64));
        let k = 0;
        for (const g of got) {
          const bank = out.get(g.bank);
          const want = pending.find((p) => p.hash === g.hash);
          for (const p of g.pcrs) {
            const v = values[k++];
            if (v === undefined || bank === undefined || want === undefined) throw tpmFormatError(r.what, 'fewer digests than selected PCRs');
            bank.set(p, v);
            want.pcrs = want.pcrs.filter((x) => x !== p);
          }
        }
        // A bank the TPM has not allocated comes back with an empty selection: nothing more will arrive.
        if (got.every((g) => g.pcrs.length === 0)) for (const s of sel) s.pcrs = [];
      });
    }
    for (const [b, m] of out) out.set(b, new Map([...m].sort((x, y) => x[0] - y[0])));
    return out;
  }

  /** TPM2_PCR_Extend with one digest per bank. */
  async pcrExtend(pcr: number, digests: readonly { alg: number; digest: Uint8Array }[]): Promise<void> {
    await this.call({
      code: TPM_CC.PCR_Extend,
      name: 'PCR_Extend',
      handles: [{ handle: pcr, auth: true }],
      params: (w) => {
        w.u32be(digests.length);
        for (const d of digests) w.u16be(d.alg).bytes(d.digest);
      },
    });
  }

  private static createParams(template: TpmtPublic): (w: TpmWriter) => void {
    return (w) => {
      w.u16be(4).u16be(0).u16be(0); // TPM2B_SENSITIVE_CREATE: empty userAuth and data
      w.tpm2b(encodeTpmtPublic(template));
      w.u16be(0); // outsideInfo
      w.u32be(0); // creationPCR: none
    };
  }

  /** TPM2_CreatePrimary under a hierarchy (owner, endorsement, …); the object stays loaded (flush it). */
  async createPrimary(hierarchy: number, template: TpmtPublic): Promise<CreatedObject & { handle: number }> {
    const { handles, params } = await this.call({ code: TPM_CC.CreatePrimary, name: 'CreatePrimary', handles: [{ handle: hierarchy, auth: true }], params: TpmClient.createParams(template), responseHandles: 1 });
    const publicBytes = TpmClient.read(params, (r) => r.tpm2b('outPublic'));
    return { handle: handles[0], public: parseTpmtPublic(publicBytes), publicBytes };
  }

  /** TPM2_Create: a child key of `parent`, returned as its private and public parts (not loaded). */
  async create(parent: number, template: TpmtPublic): Promise<CreatedObject & { private: Uint8Array }> {
    const { params } = await this.call({ code: TPM_CC.Create, name: 'Create', handles: [{ handle: parent, auth: true }], params: TpmClient.createParams(template) });
    const [priv, publicBytes] = TpmClient.read(params, (r) => [r.tpm2b('outPrivate'), r.tpm2b('outPublic')]);
    return { private: priv, public: parseTpmtPublic(publicBytes), publicBytes };
  }

  /** TPM2_Load of a key made by `create`; returns its handle and Name. */
  async load(parent: number, key: { private: Uint8Array; publicBytes: Uint8Array }): Promise<{ handle: number; name: Uint8Array }> {
    const { handles, params } = await this.call({
      code: TPM_CC.Load,
      name: 'Load',
      handles: [{ handle: parent, auth: true }],
      params: (w) => w.tpm2b(key.private).tpm2b(key.publicBytes),
      responseHandles: 1,
    });
    return { handle: handles[0], name: TpmClient.read(params, (r) => r.tpm2b('name')) };
  }

  /** TPM2_ReadPublic: an object's public area and Name. */
  async readPublic(handle: number): Promise<{ public: TpmtPublic; publicBytes: Uint8Array; name: Uint8Array; qualifiedName: Uint8Array }> {
    const { params } = await this.call({ code: TPM_CC.ReadPublic, name: 'ReadPublic', handles: [{ handle }] });
    const [publicBytes, name, qualifiedName] = TpmClient.read(params, (r) => [r.tpm2b('outPublic'), r.tpm2b('name'), r.tpm2b('qualifiedName')]);
    return { public: parseTpmtPublic(publicBytes), publicBytes, name, qualifiedName };
  }

  /** TPM2_Quote with the key's own scheme over `selection`, qualified by `nonce` (≤ 64 bytes). */
  async quote(signHandle: number, nonce: Uint8Array, selection: readonly Pick<PcrSelection, 'hash' | 'pcrs'>[]): Promise<Quote> {
    if (nonce.length > 64) throw new CocoError('TPM_NONCE', `a quote's qualifying data holds at most 64 bytes, not ${nonce.length}`, { kind: 'usage' });
    const { params } = await this.call({
      code: TPM_CC.Quote,
      name: 'Quote',
      handles: [{ handle: signHandle, auth: true }],
      params: (w) => {
        w.tpm2b(nonce).u16be(0x0010); // inScheme TPM_ALG_NULL: the key's scheme
        writePcrSelection(w, selection);
      },
    });
    const [attest, signatureBytes] = TpmClient.read(params, (r) => [r.tpm2b('quoted'), r.take(r.remaining)]);
    return { attest, signature: parseSignature(signatureBytes), signatureBytes, parsed: parseAttest(attest) };
  }

  /** TPM2_FlushContext. */
  async flush(handle: number): Promise<void> {
    await this.call({ code: TPM_CC.FlushContext, name: 'FlushContext', params: (w) => w.u32be(handle) });
  }

  /** TPM2_NV_ReadPublic. */
  async nvReadPublic(index: number): Promise<NvPublic> {
    const { params } = await this.call({ code: TPM_CC.NV_ReadPublic, name: 'NV_ReadPublic', handles: [{ handle: index }] });
    return TpmClient.read(params, (r) => {
      const pub = new TpmReader(r.tpm2b('nvPublic'), 'TPMS_NV_PUBLIC');
      return { index: pub.u32be(), nameAlg: pub.u16be(), attributes: pub.u32be(), authPolicy: pub.tpm2b('authPolicy', 64), dataSize: pub.u16be() };
    });
  }

  /**
   * The whole contents of an NV index, read in chunks. Authorized by the index itself (AUTHREAD), or by the
   * owner when `auth` says so (OWNERREAD indices such as Azure's HCL report).
   */
  async nvRead(index: number, auth: 'index' | 'owner' = 'index', chunk = 1024): Promise<Uint8Array> {
    const { dataSize } = await this.nvReadPublic(index);
    const out = new Uint8Array(dataSize);
    for (let off = 0; off < dataSize; off += chunk) {
      const n = Math.min(chunk, dataSize - off);
      const { params } = await this.call({
        code: TPM_CC.NV_Read,
        name: 'NV_Read',
        handles: [{ handle: auth === 'owner' ? TPM_RH.OWNER : index, auth: true }, { handle: index }],
        params: (w) => w.u16be(n).u16be(off),
      });
      const data = TpmClient.read(params, (r) => r.tpm2b('data'));
      if (data.length !== n) throw new CocoError('TPM_FORMAT', `NV_Read returned ${data.length} bytes, asked for ${n}`, { kind: 'input' });
      out.set(data, off);
    }
    return out;
  }

  /**
   * TPM2_NV_DefineSpace (owner authorization, empty index auth) — for provisioning simulators the way a
   * platform provisions its NV (EK certificates, an HCL report).
   */
  async nvDefine(index: number, size: number, attributes = 0x00060006 /* OWNERWRITE|AUTHWRITE|OWNERREAD|AUTHREAD */): Promise<void> {
    await this.call({
      code: TPM_CC.NV_DefineSpace,
      name: 'NV_DefineSpace',
      handles: [{ handle: TPM_RH.OWNER, auth: true }],
      params: (w) => {
        w.u16be(0); // auth
        const pub = new TpmWriter().u32be(index).u16be(0x000b).u32be(attributes).u16be(0).u16be(size).finish();
        w.tpm2b(pub);
      },
    });
  }

  /** TPM2_NV_Write of `data` at offset 0, in chunks, authorized by the index. */
  async nvWrite(index: number, data: Uint8Array, chunk = 1024): Promise<void> {
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, off + chunk);
      await this.call({ code: TPM_CC.NV_Write, name: 'NV_Write', handles: [{ handle: index, auth: true }, { handle: index }], params: (w) => w.tpm2b(part).u16be(off) });
    }
  }

  /** TPM2_NV_UndefineSpace (owner authorization). */
  async nvUndefine(index: number): Promise<void> {
    await this.call({ code: TPM_CC.NV_UndefineSpace, name: 'NV_UndefineSpace', handles: [{ handle: TPM_RH.OWNER, auth: true }, { handle: index }] });
  }

  /**
   * TPM2_EvictControl (owner authorization): makes a loaded object persistent at `persistent`
   * (0x81xxxxxx), or evicts the persistent object when `object` is that handle.
   */
  async evictControl(object: number, persistent: number): Promise<void> {
    await this.call({ code: TPM_CC.EvictControl, name: 'EvictControl', handles: [{ handle: TPM_RH.OWNER, auth: true }, { handle: object }], params: (w) => w.u32be(persistent) });
  }

  /** Hash algorithms (PCR banks) the TPM has allocated, with the PCRs selected in each. */
  async pcrBanks(): Promise<PcrSelection[]> {
    // TPM2_GetCapability(TPM_CAP_PCRS = 5, property 0, count 1) → TPMS_CAPABILITY_DATA with TPML_PCR_SELECTION.
    const { params } = await this.call({ code: TPM_CC.GetCapability, name: 'GetCapability', params: (w) => w.u32be(5).u32be(0).u32be(1) });
    return TpmClient.read(params, (r) => {
      r.u8(); // moreData
      r.u32be(); // capability
      return readPcrSelection(r).filter((s) => hashAlgorithmById(s.hash) !== undefined);
    });
  }
}
