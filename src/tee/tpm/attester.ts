/**
 * Guest side of `tee: "tpm"`: Trustee's TPM evidence from a TPM reached through a TCTI (`/dev/tpmrm0`, a
 * swtpm socket). The AK is a primary restricted signing key of the endorsement hierarchy: primaries are
 * derived from the hierarchy seed and the template, so the same TPM gives the same AK on every boot and a
 * relying party can list it in `trusted_aks`. The quote's qualifying data is the runtime-data digest
 * resized to 32 bytes (specs/kbs-protocol.md §1.5), over all 24 SHA-256 PCRs.
 */
import { readFileSync } from 'node:fs';
import { CocoError } from '../../errors.js';
import { TpmClient, TPM_RH } from '../../tpm/client.js';
import { publicKeyObject } from '../../tpm/public.js';
import { akTemplate, type AkKind } from '../../tpm/templates.js';
import { openTransport } from '../../tpm/transport.js';
import { regularize } from '../snp/validate.js';
import type { Attester } from '../verifier.js';
import { tpmEvidenceToJson } from './evidence.js';

export interface TpmAttesterOptions {
  /** TCTI string (default `device:/dev/tpmrm0`). */
  tcti?: string;
  /** AK kind (default RSA 2048 / RSASSA-SHA256, the only scheme Trustee's verifier takes). */
  ak?: AkKind;
  /**
   * A TCG event log sent along as `event_log` (`/sys/kernel/security/tpm0/binary_bios_measurements`): the
   * verifier replays it against the quoted PCRs, and a KBS explains a PCR that differs from a reference
   * value registered from artifacts by the first event that differs.
   */
  eventLogPath?: string;
}

function readEventLog(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new CocoError('TPM_EVENT_LOG', `cannot read the event log ${path}: ${(e as Error).message}`, { kind: 'file', cause: e });
  }
}

const ALL_SHA256 = [{ hash: 0x000b, pcrs: Array.from({ length: 24 }, (_, i) => i) }];

export class TpmAttester implements Attester {
  readonly tee: string = 'tpm';
  constructor(private readonly opts: TpmAttesterOptions = {}) {}

  protected async withTpm<T>(f: (c: TpmClient) => Promise<T>): Promise<T> {
    const client = new TpmClient(await openTransport(this.opts.tcti ?? 'device:/dev/tpmrm0'));
    try {
      return await f(client);
    } finally {
      await client.transport.close();
    }
  }

  /**
   * Binds init-data the way Trustee's vTPM attesters do at boot: one extend of PCR 8 (SHA-256 bank) with
   * the 32-byte init-data digest.
   */
  async bindInitData(digest: Uint8Array): Promise<void> {
    if (digest.length !== 32) throw new CocoError('TPM_INIT_DATA', `PCR 8 binds a 32-byte (SHA-256) init-data digest, not ${digest.length} bytes`, { kind: 'usage' });
    await this.withTpm((c) => c.pcrExtend(8, [{ alg: 0x000b, digest }]));
  }

  /** The AK this attester quotes with, as `ak_public` carries it (std base64 DER SPKI) — for `trusted_aks`. */
  async akPublic(): Promise<string> {
    return this.withTpm(async (c) => {
      const ak = await c.createPrimary(TPM_RH.ENDORSEMENT, akTemplate(this.opts.ak ?? 'rsa'));
      try {
        return Buffer.from(publicKeyObject(ak.public).export({ type: 'spki', format: 'der' })).toString('base64');
      } finally {
        await c.flush(ak.handle);
      }
    });
  }

  async getEvidence(reportData: Uint8Array): Promise<unknown> {
    return this.withTpm(async (c) => {
      const ak = await c.createPrimary(TPM_RH.ENDORSEMENT, akTemplate(this.opts.ak ?? 'rsa'));
      try {
        const q = await c.quote(ak.handle, regularize(reportData, 32), ALL_SHA256);
        const pcrs = await c.pcrRead(ALL_SHA256);
        const values = [...(pcrs.get('sha256') ?? new Map()).values()];
        const der = new Uint8Array(publicKeyObject(ak.public).export({ type: 'spki', format: 'der' }));
        return tpmEvidenceToJson({ akPublicDer: der, message: q.attest, signature: q.signatureBytes, pcrs: values, ...(this.opts.eventLogPath === undefined ? {} : { eventLog: readEventLog(this.opts.eventLogPath) }) });
      } finally {
        await c.flush(ak.handle);
      }
    });
  }
}
