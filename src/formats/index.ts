export * from './bytes.js';
export * from './reader.js';
export * from './jcs.js';
export * from './check.js';
export * from './json.js';
export { CocoError, isCocoError, asCocoError } from '../errors.js';
export type { ErrorKind } from '../errors.js';
export * from './authenticode.js';
export * from './pem.js';
