/** SEV-SNP: report format, AMD chain verification, expectations, claims, guest attester and test root. */
export * from './format.js';
export * from './evidence.js';
export * from './certs.js';
export * from './verify.js';
export * from './validate.js';
export * from './claims.js';
export * from './input.js';
export * from './verifier.js';
export * from './attester.js';
export * from './test-root.js';
export * from './tsm-sim.js';
export * from './kds.js';
