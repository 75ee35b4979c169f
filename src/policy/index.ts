export * from './types.js';
export * from './defaults.js';
export { policyEvaluators, RegoAttestationPolicy, RegoResourcePolicy } from './evaluators.js';
