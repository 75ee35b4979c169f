/**
 * Opening a store from configuration (the KBS `--data-dir` / `--database-url` flags or config file), the
 * periodic sweep of expired sessions and nonces, and the periodic retention of the audit log.
 */
import { CocoError } from '../errors.js';
import type { PostgresStoreOptions } from './postgres.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { Store } from './store.js';

export type StoreConfig = ({ type: 'sqlite' } & SqliteStoreOptions) | ({ type: 'postgres' } & PostgresStoreOptions);

export function openStore(config: StoreConfig): Promise<Store> {
  if (typeof config === 'object' && config !== null) {
    if (config.type === 'sqlite') return openSqliteStore(config);
    // The PostgreSQL driver is loaded only by a process that uses it (a SQLite KBS starts without it).
    if (config.type === 'postgres') return import('./postgres.js').then((m) => m.openPostgresStore(config));
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

export interface AuditRetentionOptions {
  /** Events older than this many milliseconds are deleted; 0 or absent keeps them regardless of age. */
  maxAgeMs?: number;
  /** Only the newest this many events are kept; 0 or absent keeps any number. */
  maxRows?: number;
  intervalMs: number;
  /** The clock; default `() => new Date()`. */
  now?: () => Date;
  /** After every prune that deleted rows (the space is already given back). */
  onPruned?: (deleted: number) => void;
  /** After every prune that deleted rows: what else goes with them (the versions only they named). */
  afterPrune?: () => Promise<void>;
  onError?: (e: unknown) => void;
}

/**
 * Prunes the audit log every `intervalMs` by age and by count, and when rows went gives their space back
 * (`store.reclaimSpace()`). The timer does not keep the process alive; runs never overlap.
 */
export function startAuditRetention(store: Store, o: AuditRetentionOptions): ExpirySweep {
  if (!Number.isInteger(o.intervalMs) || o.intervalMs < 1) throw new CocoError('STORE_ARGUMENT', 'audit retention interval must be a positive integer of milliseconds', { kind: 'usage' });
  const now = o.now ?? (() => new Date());
  const policy = () => ({
    ...(o.maxAgeMs ? { olderThan: new Date(now().getTime() - o.maxAgeMs) } : {}),
    ...(o.maxRows ? { keepNewest: o.maxRows } : {}),
  });
  if (!o.maxAgeMs && !o.maxRows) return { stop: () => {} };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        const deleted = await store.audit.retain(policy());
        if (deleted > 0) {
          // A failure here is reported and leaves the space reclaim and the report of the prune to run.
          await o.afterPrune?.().catch((e: unknown) => o.onError?.(e));
          await store.reclaimSpace();
          o.onPruned?.(deleted);
        }
      } catch (e) {
        o.onError?.(e);
      } finally {
        running = false;
      }
    })();
  }, o.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
