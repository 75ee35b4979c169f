export * from './types.js';
export * from './builtin.js';
export { policyEvaluators, RegoAttestationPolicy, RegoResourcePolicy, REGO_V0_MARKER, policyRegoVersion, markRegoV0 } from './evaluators.js';
export { AgentPolicy, AGENT_POLICY_MODULE, type AgentDecision, type AgentPolicyOptions } from './agent.js';
export { agentPolicyText, agentRulesText, extractPolicyData, upgradePolicyData, AGENT_RULE_FILES, NETWORK_DEFAULTS } from './agent-rules.js';
export { loadAsOpa, parseInput } from './opa-loader.js';
