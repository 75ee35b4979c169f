/** Reference values from build artifacts (`cocokit/measure`). */
export * from './snp-launch/index.js';
export * from './krun/index.js';
