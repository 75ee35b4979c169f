import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { sqliteHotPath, type HotAuditRow, type HotChainHead, type HotChainRow } from './hot-path.js';

/** The tables the hot path's statements name; the audit table refuses subjects longer than 8 characters. */
function database(file = ':memory:'): Sqlite.Database {
  const conn = new Sqlite(file);
  conn.exec(`
    CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, body BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS nonces (nonce_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL CHECK (length(subject) <= 8), outcome TEXT NOT NULL, detail TEXT);
    CREATE TABLE IF NOT EXISTS resources (namespace TEXT, repository TEXT, type TEXT, tag TEXT, value BLOB, PRIMARY KEY (namespace, repository, type, tag));
    CREATE TABLE IF NOT EXISTS policies (kind TEXT, id TEXT, text TEXT, updated_at INTEGER, PRIMARY KEY (kind, id));
    CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, updated_at INTEGER NOT NULL);
  `);
  return conn;
}

const row = (subject: string, detail: string | null = null): HotAuditRow => ({ time: 1, kind: 'kbs.test', subject, outcome: 'ok', detail });
const subjects = (conn: Sqlite.Database) => (conn.prepare('SELECT id, subject FROM audit ORDER BY id').all() as Array<{ id: number; subject: string }>);

test('audit rows of one turn are committed together; each caller gets its own id, in order', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  try {
    const pending = ['a', 'b', 'c', 'd'].map((x) => hot.auditInsert(row(x)));
    assert.equal(subjects(conn).length, 0, 'nothing written before the turn ends');
    const ids = await Promise.all(pending);
    assert.deepEqual(subjects(conn), ids.map((id, i) => ({ id, subject: 'abcd'[i] })));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
    assert.equal(new Set(ids).size, 4);
    // The next turn's rows follow.
    const later = await hot.auditInsert(row('e'));
    assert.ok(later > ids[3]);
  } finally {
    await hot.close();
  }
});

test('a row the database refuses fails alone; the rows batched with it are written', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  try {
    const results = await Promise.allSettled([hot.auditInsert(row('ok1')), hot.auditInsert(row('far too long a subject')), hot.auditInsert(row('ok2'))]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /CHECK constraint/);
    assert.equal(results[2].status, 'fulfilled');
    assert.deepEqual(subjects(conn).map((r) => r.subject), ['ok1', 'ok2']);
  } finally {
    await hot.close();
  }
});

test('a chain append and closing the connection write the rows queued before them first', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  const first = hot.auditInsert(row('before'));
  const chain = await hot.auditAppendChain('kbs.chain', (head) => [{ ...row('link'), kind: 'kbs.chain', detail: head?.detail ?? null }]);
  const firstId = await first;
  assert.ok(firstId < chain[0], 'the queued row keeps its place before the chain row');
  const last = hot.auditInsert(row('at-close'));
  await hot.close();
  assert.ok((await last) > chain[0]);
  // After close nothing more is accepted.
  await assert.rejects(hot.auditInsert(row('late')));
});

test('nonce records of one turn are written in one transaction with the audit rows; each test-and-set answers for itself', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  try {
    const pending = [hot.nonceInsert('n1', 10), hot.auditInsert(row('a')), hot.nonceInsert('n1', 10), hot.nonceInsert('n2', 10)];
    assert.equal((conn.prepare('SELECT COUNT(*) AS n FROM nonces').get() as { n: number }).n, 0, 'nothing written before the turn ends');
    const [first, id, again, other] = await Promise.all(pending);
    assert.deepEqual([first, again, other], [true, false, true]);
    assert.equal(typeof id, 'number');
    assert.equal(await hot.nonceInsert('n2', 10), false, 'a nonce of an earlier turn stays used');
  } finally {
    await hot.close();
  }
});

test('a chain append commits the writes queued before it in its own transaction, and they survive a link that throws', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  try {
    const statements: string[] = [];
    const nonce = hot.nonceInsert('n', 10);
    const audit = hot.auditInsert(row('queued'));
    // The queued writes are not committed before the chain's transaction starts: the link sees them.
    const ids = await hot.auditAppendChain('kbs.chain', (head) => {
      statements.push(String((conn.prepare('SELECT COUNT(*) AS n FROM nonces').get() as { n: number }).n));
      return [{ ...row('link'), kind: 'kbs.chain', detail: head?.detail ?? null }];
    });
    assert.deepEqual(statements, ['1'], 'the nonce was written inside the chain transaction, before its link ran');
    assert.equal(await nonce, true);
    assert.ok((await audit) < ids[0]);
    // A link that fails leaves the writes queued before it written, each with its own answer.
    const next = hot.auditInsert(row('kept'));
    const used = hot.nonceInsert('n', 10);
    await assert.rejects(
      hot.auditAppendChain('kbs.chain', () => {
        throw new Error('link failed');
      }),
      /link failed/,
    );
    assert.equal(typeof (await next), 'number');
    assert.equal(await used, false);
    assert.deepEqual(subjects(conn).map((r) => r.subject), ['queued', 'link', 'kept']);
  } finally {
    await hot.close();
  }
});

test('a chain append after this connection\'s own gets the head it left, unread; after another connection\'s, the row read back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-hot-chain-'));
  const file = join(dir, 'db');
  const first = database(file);
  const a = sqliteHotPath(first);
  const b = sqliteHotPath(database(file));
  const seen: Array<HotChainHead | null> = [];
  const link = (n: number) => (head: HotChainHead | null): HotChainRow[] => {
    seen.push(head);
    return [{ time: 1, kind: 'kbs.chain', subject: `c${n}`, outcome: 'ok', detail: JSON.stringify({ n }), head: { n } }];
  };
  return (async () => {
    try {
      await a.auditAppendChain('kbs.chain', link(1));
      await a.auditAppendChain('kbs.chain', link(2));
      await b.auditAppendChain('kbs.chain', link(3));
      await a.auditAppendChain('kbs.chain', link(4));
      // Rows of other kinds after the head do not make it stale.
      await a.auditInsert(row('other'));
      await b.auditInsert(row('other'));
      await a.auditAppendChain('kbs.chain', link(5));
      first.prepare("DELETE FROM audit WHERE subject = 'c5'").run();
      await a.auditAppendChain('kbs.chain', link(6));
      assert.deepEqual(
        seen.map((h) => (h === null ? null : { detail: h.detail, head: h.head })),
        [
          null,
          { detail: '{"n":1}', head: { n: 1 } },
          { detail: '{"n":2}', head: undefined },
          { detail: '{"n":3}', head: undefined },
          { detail: '{"n":4}', head: { n: 4 } },
          { detail: '{"n":4}', head: undefined },
        ],
      );
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  })();
});

test('chain appends and session writes of one turn share one transaction; each append links to the one before, unread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-hot-batch-'));
  const file = join(dir, 'db');
  const conn = database(file);
  conn.pragma('journal_mode = WAL');
  const other = new Sqlite(file, { readonly: true });
  const hot = sqliteHotPath(conn);
  try {
    const seen: Array<HotChainHead | null> = [];
    const outside: number[] = [];
    const link = (n: number) => (head: HotChainHead | null): HotChainRow[] => {
      seen.push(head);
      // What another connection sees while the batch runs: nothing of this turn is committed yet.
      outside.push((other.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n + (other.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n);
      return [{ time: 1, kind: 'kbs.chain', subject: `c${n}`, outcome: 'ok', detail: JSON.stringify({ n }), head: { n } }];
    };
    const pending = [
      hot.sessionPut('s1', 99, new Uint8Array([1])),
      hot.auditAppendChain('kbs.chain', link(1)),
      hot.auditAppendChain('kbs.chain', link(2)),
      hot.sessionPut('s1', 100, new Uint8Array([2])),
      hot.auditAppendChain('kbs.chain', link(3)),
    ] as const;
    assert.equal(await hot.sessionGet('s1'), undefined, 'nothing written before the turn ends');
    const [, a, b, , c] = await Promise.all(pending);
    assert.ok(a[0] < b[0] && b[0] < c[0]);
    assert.deepEqual(outside, [0, 0, 0], 'one transaction: none of its writes visible outside until it commits');
    assert.deepEqual(seen.map((h) => h && h.head), [null, { n: 1 }, { n: 2 }], 'each link got the head the one before left, not read back');
    assert.equal((other.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n, 3);
    const s = await hot.sessionGet('s1');
    assert.equal(s?.expires_at, 100, 'the later write of the turn wins');
    assert.deepEqual([...(s?.body ?? [])], [2]);
    // The next turn links to the last head of the batch.
    await hot.auditAppendChain('kbs.chain', link(4));
    assert.deepEqual(seen[3]?.head, { n: 3 });
  } finally {
    await hot.close();
    other.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a link that throws in a batch fails alone: the appends beside it are written and linked to the rows really there', async () => {
  const conn = database();
  const hot = sqliteHotPath(conn);
  try {
    const seen: Array<unknown> = [];
    const link = (n: number) => (head: HotChainHead | null): HotChainRow[] => {
      seen.push(head === null ? null : JSON.parse(head.detail ?? 'null'));
      return [{ time: 1, kind: 'kbs.chain', subject: `c${n}`, outcome: 'ok', detail: JSON.stringify({ n }), head: { n } }];
    };
    await hot.auditAppendChain('kbs.chain', link(0));
    seen.length = 0;
    const results = await Promise.allSettled([
      hot.auditAppendChain('kbs.chain', link(1)),
      hot.auditAppendChain('kbs.chain', () => {
        throw new Error('link failed');
      }),
      hot.auditAppendChain('kbs.chain', link(3)),
      hot.sessionPut('s', 5, new Uint8Array([9])),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /link failed/);
    assert.deepEqual(subjects(conn).map((r) => r.subject), ['c0', 'c1', 'c3']);
    // The rolled-back batch linked 1 → 0 and 3 → 1 (nothing between); run alone, 3 links to 1, which is there.
    assert.deepEqual(seen.slice(-2), [{ n: 0 }, { n: 1 }]);
    assert.equal((await hot.sessionGet('s'))?.expires_at, 5);
  } finally {
    await hot.close();
  }
});
