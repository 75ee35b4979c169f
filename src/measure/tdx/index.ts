/** TDX reference values: MRTD from TDVF firmware metadata. */
export * from './tdvf.js';
export * from './rtmr.js';
export * from './rtmr0.js';
