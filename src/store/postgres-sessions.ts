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

/** Attested sessions held at once; the oldest goes first. */
export const HELD_SESSIONS = 50_000;

interface Held {
  expiresAt: number;
  /** Everything but the id as JSON text: what a caller gets back is never an object another caller holds. */
  text: string;
}

export function withHeldAttestedSessions(store: Store, feed: ChangeFeed, now: () => Date, max = HELD_SESSIONS): Store {
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
  return new Proxy(store, {
    get(t, prop) {
      if (prop === 'sessions') return sessions;
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
