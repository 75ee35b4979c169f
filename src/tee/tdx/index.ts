/** Intel TDX: DCAP quote format, PCK extensions, collateral, verification against Intel's roots. */
export * from './format.js';
export * from './pck.js';
export * from './collateral.js';
export * from './verify.js';
export * from './test-root.js';
export * from './claims.js';
export * from './evidence.js';
export * from './validate.js';
export * from './verifier.js';
export * from './attester.js';
export * from './tsm-sim.js';
export * from './pcs.js';
export * from './ccel.js';
export * from './tdreport.js';
