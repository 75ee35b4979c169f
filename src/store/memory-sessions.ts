/**
 * Sessions kept in the KBS process, as Trustee keeps them: a bounded, expiring table that a request reads and
 * writes without a database round trip or a seal/open of the session row. Only a KBS that is the one process
 * on its store uses it (`kbs serve` on SQLite with one worker); worker processes and replicas sharing a store
 * keep their sessions in the store, where any of them finds a session another one opened.
 *
 * A session lives as long as the process: a restart makes its guests run `/auth` again, which a lost session
 * already does under the store's relaxed durability (store/hot-path.ts). Single use of a nonce does not rest
 * on this table: `/attest` consumes the nonce in the store's nonce table, which outlives the process.
 */
import { CocoError } from '../errors.js';
import { LIMITS, type SessionRecord, type SessionStore, type Store, type SweepResult } from './store.js';
import { type SessionBody, checkSession, checkString, sessionFromBody, spendableNonce } from './validate.js';

/** Sessions held at once when no bound is given; each is a few kilobytes at most (the token dominates). */
export const DEFAULT_MAX_SESSIONS = 100_000;

export interface MemorySessionOptions {
  /** Sessions held at once; a new one beyond it evicts the expired ones, then the oldest. */
  maxSessions?: number;
  now?: () => Date;
}

interface Entry {
  expiresAt: number;
  /** Everything but the id as JSON text: what a caller gets back is never an object another caller holds. */
  text: string;
}


/** Whether `checkString` would accept `v` as an id; a wrong type is still an input error. */
function storableId(v: unknown): v is string {
  if (typeof v !== 'string') checkString(v, 'session id');
  return typeof v === 'string' && v.length > 0 && v.length <= LIMITS.idChars && !v.includes('\u0000');
}

export class MemorySessionStore implements Omit<SessionStore, 'attempt'> {
  readonly maxSessions: number;
  readonly #now: () => Date;
  /** Insertion order is creation order: a replaced session keeps its place, the first entry is the oldest. */
  readonly #table = new Map<string, Entry>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(o: MemorySessionOptions = {}) {
    const max = o.maxSessions ?? DEFAULT_MAX_SESSIONS;
    if (!Number.isSafeInteger(max) || max < 1) throw new CocoError('STORE_ARGUMENT', `maxSessions must be a positive integer, got ${String(max)}`, { kind: 'input' });
    this.maxSessions = max;
    this.#now = o.now ?? (() => new Date());
  }

  /** Sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.#table.size;
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    if (!storableId(id)) return undefined;
    const e = this.#table.get(id);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#now().getTime()) {
      // Deleted when looked up after its expiry, as the store does (specs/kbs-protocol.md §1.3).
      this.#table.delete(id);
      return undefined;
    }
    return sessionFromBody(id, JSON.parse(e.text) as SessionBody);
  }

  async put(s: SessionRecord): Promise<void> {
    const { id, body, text } = checkSession(s);
    if (!this.#table.has(id) && this.#table.size >= this.maxSessions) this.#makeRoom();
    this.#table.set(id, { expiresAt: body.expiresAt, text });
  }

  async delete(id: string): Promise<boolean> {
    if (!storableId(id)) return false;
    return this.#table.delete(id);
  }

  /** Deletes the sessions expired at or before `now`; returns how many. */
  sweep(now: Date = this.#now()): number {
    const t = now.getTime();
    let n = 0;
    for (const [id, e] of this.#table) {
      if (e.expiresAt <= t) {
        this.#table.delete(id);
        n++;
      }
    }
    return n;
  }

  /**
   * Frees one place at least: the expired sessions if there are any, else the oldest session. A full sweep is
   * tried at most once a second, so a table kept full by a flood of new sessions costs O(1) per session.
   */
  #makeRoom(): void {
    const now = this.#now().getTime();
    if (Math.abs(now - this.#sweptAt) >= 1000) {
      this.#sweptAt = now;
      if (this.sweep(new Date(now)) > 0) return;
    }
    const oldest = this.#table.keys().next();
    if (!oldest.done) this.#table.delete(oldest.value);
  }
}

/**
 * `store` with its sessions in `sessions` instead; everything else is the store's own. `sweepExpired` sweeps
 * both and counts both. An attempt reads the session here and consumes the nonce in the store's table.
 */
export function withMemorySessions(store: Store, sessions: MemorySessionStore): Store {
  const facade: SessionStore = {
    get: (id) => sessions.get(id),
    put: (s) => sessions.put(s),
    delete: (id) => sessions.delete(id),
    async attempt(id, nonce) {
      const spendable = spendableNonce(nonce);
      const session = await sessions.get(id);
      return { session, fresh: spendable && session !== undefined && session.nonce === nonce && (await store.nonces.consume(nonce, session.expiresAt)) };
    },
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'sessions') return facade;
      if (prop === 'sweepExpired') {
        return async (now?: Date): Promise<SweepResult> => {
          const r = await target.sweepExpired(now);
          return { ...r, sessions: r.sessions + sessions.sweep(now) };
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      // The store's methods use private fields: call them on the store itself, not on the proxy.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
