export { KbsClient, normalizeResourcePath, KBS_PROTOCOL_VERSION, type KbsClientOptions, type AttestResult } from './kbs-client.js';
export { KbsAdminClient, signAdminToken, type AdminClientOptions } from './admin-client.js';
export { SampleAttester } from '../tee/sample/attester.js';
export { attesterFor, ATTESTER_NAMES, type AttesterOptions } from './attesters.js';
export { WorkloadAdminClient, type WorkloadClientOptions, type WorkloadRegistration } from './workload-client.js';
export { registerKrunWorkload, buildahRegistrationBody, TEE_CONFIG_BITS, type KrunRegistration } from './krun-registration.js';
export {
  getNativeWorkloadResource,
  getKeybrokerResource,
  getKrunPassphrase,
  rsaPkcs1v15Decrypt,
  WORKLOAD_GUEST_DIALECTS,
  type WorkloadGuestDialect,
  type WorkloadGuestOptions,
  type RawSnpAttester,
} from './workload-guest.js';
