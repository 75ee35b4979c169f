export * from './verifier.js';
