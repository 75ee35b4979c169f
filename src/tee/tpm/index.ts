export * from './evidence.js';
export * from './pcr8.js';
export * from './verifier.js';
export * from './attester.js';
