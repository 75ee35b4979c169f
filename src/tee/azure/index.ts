export * from './hcl.js';
export * from './evidence.js';
export * from './vtpm.js';
