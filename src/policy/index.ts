export * from './types.js';
export * from './defaults.js';
export { policyEvaluators, RegoAttestationPolicy, RegoResourcePolicy } from './evaluators.js';
export { AgentPolicy, AGENT_POLICY_MODULE, type AgentDecision, type AgentPolicyOptions } from './agent.js';
export { agentPolicyText, agentRulesText, extractPolicyData, upgradePolicyData, AGENT_RULE_FILES, NETWORK_DEFAULTS } from './agent-rules.js';
