/** The KBS: `openKbs(options)` assembles store, attestation service, policies and the HTTP app. */
export { openKbs, openStore, type Kbs, type KbsOptions } from './kbs.js';
export { buildKbsApp, PROTOCOL_VERSION, SESSION_COOKIE, type KbsAppOptions, type RecordedEvidenceReplay } from './app.js';
export { defaultConfig, configFromToml, loadConfigFile, applyEnv, type KbsConfig } from './config.js';
export { AdminAuthorizer } from './admin-auth.js';
export { AttestationTokenVerifier, teePubkeyFromClaims } from './token-verifier.js';
export { KbsMetrics } from './metrics.js';
export { errorResponse, ERROR_TYPE_PREFIX, type ErrorVariant } from './errors.js';
export { openDevelopmentKbs, developmentConfig, DEMO_RESOURCE, type DevelopmentKbs, type DevelopmentKbsOptions } from './development.js';
export {
  registerReferenceValues,
  parseReferenceValueMessage,
  referenceValueSnapshot,
  describeReferenceValue,
  type ReferenceValueProvenanceInput,
  type StampedProvenance,
  type ReferenceValueRegistration,
} from './reference-values.js';
