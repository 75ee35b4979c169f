export * from './types.js';
export * from './builtin.js';
export { policyEvaluators, RegoAttestationPolicy, RegoResourcePolicy } from './evaluators.js';
export { AgentPolicy, AGENT_POLICY_MODULE, type AgentDecision, type AgentPolicyOptions } from './agent.js';
