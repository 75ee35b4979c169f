/**
 * The Rego engine, loaded on demand: a server answers its first requests (health, metrics) without parsing
 * the engine, and the code that needs it either awaits `loadRego()` or runs only after it (`rego()`).
 */
import { CocoError } from '../errors.js';

export type RegoModule = typeof import('./index.js');

let loaded: RegoModule | undefined;
let loading: Promise<RegoModule> | undefined;

/** Loads the engine once; a failed load is not remembered. */
export function loadRego(): Promise<RegoModule> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= import('./index.js').then(
    (m) => (loaded = m),
    (err: unknown) => {
      loading = undefined;
      throw err;
    },
  );
  return loading;
}

/** The engine, once `loadRego()` has settled; before that a caller has skipped the load, an internal error. */
export function rego(): RegoModule {
  if (!loaded) throw new CocoError('REGO_NOT_LOADED', 'the Rego engine is used before it was loaded', { kind: 'internal' });
  return loaded;
}

/** Whether the engine is loaded (then `rego()` answers without waiting). */
export function regoLoaded(): boolean {
  return loaded !== undefined;
}
