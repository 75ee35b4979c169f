/**
 * TPM 2.0: wire structures (TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC, PCR selections), quote verification,
 * EK certificates, and tpm2-tools file formats.
 */
export * from './constants.js';
export * from './wire.js';
export * from './pcr-selection.js';
export * from './attest.js';
export * from './signature.js';
export * from './public.js';
export * from './quote.js';
export * from './pcrs-file.js';
export * from './ek.js';
export * from './transport.js';
export * from './client.js';
export * from './templates.js';
