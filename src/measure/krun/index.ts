/** libkrun / libkrunfw TEE launch measurements (specs/keybroker.md §4). */
export { krunMeasurements, padBundle, QBOOT_GPA, type KrunFirmware, type KrunMeasureOptions, type KrunMeasurements } from './digest.js';
export { bootParams, BOOTP_GPA, INITRD_GPA, type BootParamsOptions } from './bootp.js';
export { krunVmsa } from './vmsa.js';
export { readLibkrunfw } from './libkrunfw.js';
export { findLibkrunfw, libraryDirs, LIBRARY_DIRS, LIBRARY_NAMES } from './library-search.js';
