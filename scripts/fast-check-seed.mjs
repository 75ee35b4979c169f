// Preloaded into every test process. Under CI the property tests run from a fixed seed, so a run is
// reproducible and a failure names a case anyone can replay; developers get a fresh seed each run
// (fast-check prints it on failure). FC_SEED overrides both.
import fc from 'fast-check';

const seed = process.env.FC_SEED ?? (process.env.CI === 'true' ? '20261123' : undefined);
if (seed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(seed) });
