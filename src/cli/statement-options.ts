/**
 * The trust flags of a signed statement, shared by `rv import` and `kbs workload register --statement`.
 * Declared apart from rv.ts, which verifies statements, so that `kbs workload` registers without loading the
 * DSSE and Sigstore code.
 */
import type { Command } from 'commander';
import { addOptions, type OptionSpec, type OptionValues } from './options.js';

export const STATEMENT_TRUST_OPTIONS = [
  ['--trusted-key <pem>', 'PEM public key of a trusted signer of DSSE envelopes (repeatable)', []],
  ['--trusted-root <file>', 'Sigstore trusted_root.json (certificate authorities, Rekor keys) for Sigstore bundles'],
  ['--certificate-identity <san>', "Sigstore bundles: the signing certificate's SAN (exact)"],
  ['--certificate-identity-regexp <re>', 'Sigstore bundles: the SAN as a regular expression'],
  ['--certificate-oidc-issuer <url>', 'Sigstore bundles: the OIDC issuer in the certificate (exact)'],
  ['--certificate-oidc-issuer-regexp <re>', 'Sigstore bundles: the OIDC issuer as a regular expression'],
] as const satisfies readonly OptionSpec[];

export type StatementTrustFlags = OptionValues<typeof STATEMENT_TRUST_OPTIONS>;

export function addStatementTrustOptions(cmd: Command): Command {
  return addOptions(cmd, STATEMENT_TRUST_OPTIONS);
}
