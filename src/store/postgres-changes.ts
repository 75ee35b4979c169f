/**
 * The change feed of a PostgreSQL store: one connection per process that LISTENs on the channel the
 * triggers notify at commit (schema.ts, migrations 0004 and 0005) with the table's name: writes to policies
 * and reference_values, deletions of sessions. Every replica on the database hears of every such write, its
 * own included, and drops what it cached of them.
 *
 * While the connection is down the feed is not `live` (a notification sent meanwhile is lost, so nothing may
 * be cached); it reconnects with a growing delay, and once listening again it reports a change, since writes
 * may have been missed, before it is live again.
 */
import pg from 'pg';
import { CHANGE_CHANNEL } from './schema.js';
import type { ChangeFeed } from './store.js';

export interface PostgresChangeFeed extends ChangeFeed {
  /** Connects and LISTENs; resolves once listening. A first connection that fails rejects (and ends the feed). */
  start(): Promise<void>;
  close(): Promise<void>;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/** A feed on `connectionString`'s database; not live until `start()` resolves. */
export function changeFeed(connectionString: string): PostgresChangeFeed {
  const listeners = new Set<(table?: string) => void>();
  let live = false;
  let closed = false;
  let client: pg.Client | undefined;
  let retryMs = RETRY_MIN_MS;
  let retryTimer: NodeJS.Timeout | undefined;

  const changed = (table?: string): void => {
    for (const l of listeners) {
      try {
        l(table);
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
  };

  const lost = (c: pg.Client): void => {
    if (client !== c) return;
    client = undefined;
    live = false;
    changed();
    c.removeAllListeners('notification');
    void c.end().catch(() => {});
    if (closed) return;
    retryTimer = setTimeout(() => void connect().catch(() => {}), retryMs);
    retryTimer.unref();
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString });
    client = c;
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    c.on('notification', (n) => {
      if (n.channel === CHANGE_CHANNEL) changed(n.payload === undefined || n.payload === '' ? undefined : n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (e) {
      lost(c);
      throw e;
    }
    if (closed || client !== c) return;
    retryMs = RETRY_MIN_MS;
    // Whatever was written while no one listened is unknown: report a change before caching may start again.
    changed();
    live = true;
  };

  return {
    start: () =>
      connect().catch((e: unknown) => {
        closed = true;
        if (retryTimer) clearTimeout(retryTimer);
        throw e;
      }),
    subscribe(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    get live() {
      return live;
    },
    async close() {
      closed = true;
      live = false;
      if (retryTimer) clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      if (c) await c.end().catch(() => {});
    },
  };
}
