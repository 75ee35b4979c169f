/**
 * Opening a store from configuration (the KBS `--data-dir` / `--database-url` flags or config file), and the
 * periodic sweep of expired sessions and nonces.
 */
import { CocoError } from '../errors.js';
import { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { Store } from './store.js';

export type StoreConfig = ({ type: 'sqlite' } & SqliteStoreOptions) | ({ type: 'postgres' } & PostgresStoreOptions);

export function openStore(config: StoreConfig): Promise<Store> {
  if (typeof config === 'object' && config !== null) {
    if (config.type === 'sqlite') return openSqliteStore(config);
    if (config.type === 'postgres') return openPostgresStore(config);
  }
  return Promise.reject(new CocoError('STORE_ARGUMENT', 'store type must be "sqlite" or "postgres"', { kind: 'usage' }));
}

export interface ExpirySweep {
  stop(): void;
}

/**
 * Calls `store.sweepExpired()` every `intervalMs` (default 60 s, as Trustee's session sweep,
 * specs/kbs-protocol.md §1.3). The timer does not keep the process alive; a failed sweep goes to `onError`
 * and the next tick tries again.
 */
export function startExpirySweep(store: Store, options: { intervalMs?: number; onError?: (e: unknown) => void } = {}): ExpirySweep {
  const intervalMs = options.intervalMs ?? 60_000;
  if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new CocoError('STORE_ARGUMENT', 'sweep interval must be a positive integer of milliseconds', { kind: 'usage' });
  let running = false;
  const timer = setInterval(() => {
    // A slow database must not pile up overlapping sweeps.
    if (running) return;
    running = true;
    store
      .sweepExpired()
      .catch((e: unknown) => options.onError?.(e))
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
