/**
 * The one place that maps a KBS `tee` value to its verifier (specs/kbs-protocol.md §3.2). New TEE kinds are
 * registered here; the attestation service never names a TEE itself.
 */
import { CocoError } from '../errors.js';
import type { TeeVerifier } from '../tee/verifier.js';
import { SampleDeviceVerifier, SampleVerifier } from '../tee/sample/verify.js';
import { createSnpVerifier, type SnpVerifierConfig } from '../tee/snp/verifier.js';
import type { TpmVerifierConfig } from '../tee/tpm/verifier.js';
import type { AzTdxVtpmVerifierConfig } from '../tee/az-tdx-vtpm/verifier.js';
import type { TdxVerifierConfig } from '../tee/tdx/verifier.js';

export class VerifierRegistry {
  private readonly byTee = new Map<string, TeeVerifier>();

  constructor(verifiers: Iterable<TeeVerifier> = []) {
    for (const v of verifiers) this.register(v);
  }

  register(v: TeeVerifier): this {
    this.byTee.set(v.tee, v);
    return this;
  }

  has(tee: string): boolean {
    return this.byTee.has(tee);
  }

  get(tee: string): TeeVerifier {
    const v = this.byTee.get(tee);
    if (!v) throw new CocoError('AS_UNSUPPORTED_TEE', `no verifier for tee "${tee}" (enabled: ${this.tees().join(', ') || 'none'})`, { kind: 'unsupported' });
    return v;
  }

  tees(): string[] {
    return [...this.byTee.keys()].sort();
  }
}

export interface RegistryOptions {
  /** The sample TEEs have no root of trust; they are registered only when asked for (development mode). */
  sample?: boolean;
  snp?: SnpVerifierConfig;
  /** The generic `tpm` verifier (its AKs anchored by fingerprint, or left to policy). */
  tpm?: TpmVerifierConfig;
  /** `az-tdx-vtpm`: how its TD quote is verified (default: as `tdx` verifies quotes, with `tdx`'s options). */
  azTdxVtpm?: AzTdxVtpmVerifierConfig;
  tdx?: TdxVerifierConfig;
}

/**
 * A verifier whose code is loaded on its first evidence: a server starts without parsing the verifiers of
 * TEEs it may never see. A failed load is not remembered, so the next evidence tries again.
 */
export function lazyVerifier(tee: string, load: () => Promise<TeeVerifier>): TeeVerifier {
  let loading: Promise<TeeVerifier> | undefined;
  return {
    tee,
    async verify(evidence, ctx) {
      loading ??= load().catch((err: unknown) => {
        loading = undefined;
        throw err;
      });
      return (await loading).verify(evidence, ctx);
    },
  };
}

/** The verifiers cocokit ships (SNP's loaded with the registry, the others on their first evidence). */
export function defaultVerifiers(opts: RegistryOptions = {}): VerifierRegistry {
  const r = new VerifierRegistry([
    createSnpVerifier(opts.snp),
    lazyVerifier('tdx', async () => (await import('../tee/tdx/verifier.js')).createTdxVerifier(opts.tdx)),
    lazyVerifier('tpm', async () => (await import('../tee/tpm/verifier.js')).createTpmVerifier(opts.tpm)),
    // Azure SNP VMs chain to the same AMD roots as bare SNP ones (and to the same test roots in a lab).
    lazyVerifier('az-snp-vtpm', async () => (await import('../tee/az-snp-vtpm/verifier.js')).createAzSnpVtpmVerifier(opts.snp?.roots ? { roots: opts.snp.roots } : {})),
    // Azure TDX VMs' TD quotes go through the same TDX verification (roots, collateral) as bare TDX ones.
    lazyVerifier('az-tdx-vtpm', async () => {
      const { createAzTdxVtpmVerifier, tdxQuoteVerification } = await import('../tee/az-tdx-vtpm/verifier.js');
      return createAzTdxVtpmVerifier(opts.azTdxVtpm ?? { verifyTdQuote: tdxQuoteVerification(opts.tdx) });
    }),
  ]);
  if (opts.sample) r.register(new SampleVerifier()).register(new SampleDeviceVerifier());
  return r;
}
