/**
 * Attested sessions of a PostgreSQL store held in the replica that wrote or read them, so the resource GETs
 * that follow an attestation find their session without a round trip or an unseal.
 *
 * Only attested sessions are held: the KBS never changes one (a repeated /attest answers with the token the
 * session already has), so a held copy is the stored row until the session expires or is deleted. Deletions
 * by any replica (sweeps, explicit deletes, TRUNCATE) are announced through the change feed and drop every
 * held session; while the feed is down nothing is held. A session in the `authed` state is always read from
 * the database, since any replica may attest it.
 */
import { LIMITS, type ChangeFeed, type SessionRecord, type SessionStore, type Store } from './store.js';
import { type SessionBody, checkSession, sessionFromBody } from './validate.js';
import { dropAround } from './read-cache.js';

/** Attested sessions held at once; the oldest goes first. */
export const HELD_SESSIONS = 50_000;

interface Held {
  expiresAt: number;
  /** Everything but the id as JSON text: what a caller gets back is never an object another caller holds. */
  text: string;
}

/**
 * `store` with attested sessions held as above; and, since the hot path holds sealed resource values
 * (postgres-hot-path.ts), this replica's own resource writes, transactions and key rotations drop them
 * (`forgetResources`) before and after they run instead of waiting for their announcement.
 */
export function withReplicaHolds(store: Store, feed: ChangeFeed, now: () => Date, forgetResources: () => void, max = HELD_SESSIONS): Store {
  const held = new Map<string, Held>();
  // Moved at every announced deletion: a read that raced with one does not hold what it read before it.
  let generation = 0;
  feed.subscribe((table) => {
    if (table === undefined || table === 'sessions') {
      generation++;
      held.clear();
    }
  });
  const hold = (s: SessionRecord): void => {
    const { id, body, text } = checkSession(s);
    if (body.state !== 'attested') {
      held.delete(id);
      return;
    }
    if (!held.has(id) && held.size >= max) {
      const oldest = held.keys().next();
      if (!oldest.done) held.delete(oldest.value);
    }
    held.set(id, { expiresAt: body.expiresAt, text });
  };
  const target = store.sessions;
  const sessions: SessionStore = {
    async get(id) {
      if (typeof id === 'string' && id.length <= LIMITS.idChars) {
        const h = held.get(id);
        if (h !== undefined) {
          if (feed.live && h.expiresAt > now().getTime()) return sessionFromBody(id, JSON.parse(h.text) as SessionBody);
          // Expired: the store deletes it on this read, as it does for any expired session.
          held.delete(id);
        }
      }
      const g = generation;
      const s = await target.get(id);
      if (s !== undefined && s.state === 'attested' && feed.live && g === generation) hold(s);
      return s;
    },
    async attempt(id, nonce) {
      // An attested session held here answers at once: its challenge was spent when it was attested.
      const h = typeof id === 'string' && typeof nonce === 'string' ? held.get(id) : undefined;
      if (h !== undefined) {
        if (feed.live && h.expiresAt > now().getTime()) return { session: sessionFromBody(id, JSON.parse(h.text) as SessionBody), fresh: false };
        held.delete(id);
      }
      const g = generation;
      const r = await target.attempt(id, nonce);
      if (r.session !== undefined && r.session.state === 'attested' && feed.live && g === generation) hold(r.session);
      return r;
    },
    async put(s) {
      if (typeof s === 'object' && s !== null && typeof s.id === 'string') held.delete(s.id);
      const g = generation;
      await target.put(s);
      if (s.state === 'attested' && feed.live && g === generation) hold(s);
    },
    async delete(id) {
      if (typeof id === 'string') held.delete(id);
      return target.delete(id);
    },
  };
  const writing = dropAround(forgetResources);
  const resources: Store['resources'] = {
    get: (k) => store.resources.get(k),
    put: (k, v) => writing(() => store.resources.put(k, v)),
    delete: (k) => writing(() => store.resources.delete(k)),
    list: (f) => store.resources.list(f),
    page: (f, p) => store.resources.page(f, p),
  };
  return new Proxy(store, {
    get(t, prop) {
      if (prop === 'sessions') return sessions;
      if (prop === 'resources') return resources;
      if (prop === 'transaction') return <T>(fn: Parameters<Store['transaction']>[0]): Promise<T> => writing(() => t.transaction(fn) as Promise<T>);
      if (prop === 'rotateKek') return (k: Parameters<Store['rotateKek']>[0]) => writing(() => t.rotateKek(k));
      if (prop === 'close') {
        return async () => {
          held.clear();
          await t.close();
        };
      }
      const v: unknown = Reflect.get(t, prop, t);
      // The store's methods use private fields: call them on the store itself, not on the proxy.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
