export * from './types.js';
export * from './defaults.js';
export { policyEvaluators } from './evaluators.js';
