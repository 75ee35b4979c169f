export * from './verifier.js';
export * from './attester.js';
