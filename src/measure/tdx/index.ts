/** TDX reference values: MRTD from TDVF firmware metadata. */
export * from './tdvf.js';
