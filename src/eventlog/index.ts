/**
 * TCG event logs: crypto-agile and legacy SHA-1 parsing, per-event decoding, replay into PCRs (or any
 * measurement registers, e.g. TDX RTMRs from a CCEL), and comparison with quoted values.
 */
export * from './algorithms.js';
export * from './event-types.js';
export * from './parse.js';
export * from './decode.js';
export * from './digest-rules.js';
export * from './replay.js';
export * from './compare.js';
export * from './encode.js';
export * from './report.js';
