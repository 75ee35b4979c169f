export * from '../formats/runtime-data.js';
export * from './init-data.js';
export * from './verifiers.js';
export * from './ear.js';
export * from './signer.js';
export * from './service.js';
export * from './signed-statement.js';
export * from './sigstore-bundle.js';
