/** cocokit: the Confidential Containers attestation stack. Layer entry points: cocokit/kbs, cocokit/client, … */
export { CocoError, isCocoError, type ErrorKind } from './errors.js';
export { openKbs, openDevelopmentKbs, defaultConfig, configFromToml, type Kbs, type KbsConfig } from './server/index.js';
export { KbsClient, KbsAdminClient, SampleAttester } from './client/index.js';
export { AttestationService, defaultVerifiers, VerifierRegistry, TokenSigner } from './attestation/index.js';
export { policyEvaluators, RegoAttestationPolicy, RegoResourcePolicy } from './policy/index.js';
export type { TeeVerifier, Attester, VerifyContext, VerifierResult } from './tee/verifier.js';
export { inspect, type Inspection, type InspectedField } from './inspect/inspect.js';
