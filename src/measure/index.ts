/** Reference values from build artifacts (`cocokit/measure`). */
export * from './snp-launch/index.js';
export * from './krun/index.js';
export * from './uki.js';
export * from './initdata.js';
export * from './pcr.js';
export * from './verity.js';
export * from './tdx/index.js';
export * from './from-artifacts.js';
export * from './explain-events.js';
