export { SampleVerifier, SampleDeviceVerifier } from './verify.js';
export { SampleAttester } from './attester.js';
export { parseSampleEvidence, type SampleEvidence } from './format.js';
