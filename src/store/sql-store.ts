/**
 * The `Store` implementation over kysely, shared by the SQLite and PostgreSQL adapters: they differ only in
 * the dialect they hand in. Every statement is a single-row upsert/delete or a conditional write, so
 * correctness across replicas rests on the database's own primary-key and row-level atomicity.
 */
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { CocoError, asCocoError } from '../errors.js';
import { kyselyHotPath, type HotKeep, type HotPath } from './hot-path.js';
import { kekFingerprint, loadKek, open, seal } from './kek.js';
import { migrateToLatest, type Database, type Dialect, type Int64 } from './schema.js';
import {
  DEFAULT_NAMESPACE,
  LIMITS,
  type AuditEvent,
  type AuditEventInput,
  type ChainedEventInput,
  type ChainKeep,
  type ChainNames,
  type AuditLog,
  type AuditQuery,
  type AuditRetention,
  AUDIT_PRUNE_BATCH,
  type ChangeFeed,
  type JsonValue,
  type KekSource,
  type KvStore,
  type Page,
  type PageRequest,
  type ResourceInfo,
  PAGE_LIMITS,
  type NonceStore,
  type PolicyKind,
  type PolicyStore,
  type ReferenceValueRecord,
  type ReferenceValueStore,
  type ResourceFilter,
  type ResourceKey,
  type ResourceStore,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
  type Store,
  type StoreTransaction,
  type SweepResult,
  type WorkloadInput,
  type WorkloadRecord,
  type WorkloadStore,
} from './store.js';
import {
  checkBytes,
  checkDate,
  checkLimit,
  checkNamespace,
  checkPolicyKind,
  checkResourceKey,
  checkSegment,
  checkSession,
  checkString,
  deepFreeze,
  sessionFromBody,
  spendableNonce,
  toJsonText,
  type CheckedResourceKey,
  type SessionBody,
} from './validate.js';

export interface SqlStoreOptions {
  db: Kysely<Database>;
  dialect: Dialect;
  kek: Uint8Array;
  now: () => Date;
  /** Runs after the database is closed. */
  onClose?: () => Promise<void> | void;
  /** The adapter's way to give freed space back (`Store.reclaimSpace`); nothing to do when absent. */
  reclaimSpace?: () => Promise<void> | void;
  /** Wraps the migration, for locks the database alone cannot provide (see sqlite.ts). */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * The request path's statements with relaxed durability (hot-path.ts); opened after the migration, since
   * its prepared statements need the tables. Default: the same statements on `db`, synced like admin writes.
   */
  hotPath?: () => HotPath | Promise<HotPath>;
  /** Announcements of other processes' writes (`Store.changes`); the adapter closes it in `onClose`. */
  changes?: ChangeFeed;
}

/** Audit kinds written on the hot path, unsynced: the protocol's own events. Admin events are durable. */
const HOT_AUDIT_PREFIX = 'kbs.';

/** Expired sessions or nonces deleted per statement by `sweepExpired`. */
const SWEEP_BATCH = 5000;

const KEK_CHECK_AAD = 'cocokit-kek-check';
const KEK_CHECK_PLAINTEXT = 'cocokit key-encryption key check v1';

function ms(v: Int64): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Whether `checkString` would accept `v` as an id; a wrong type is still an input error. */
function storableId(v: unknown): v is string {
  if (typeof v !== 'string') checkString(v, 'session id');
  return typeof v === 'string' && v.length > 0 && v.length <= LIMITS.idChars && !v.includes('\u0000');
}

/**
 * Sorts by string keys in code-unit order. Done here rather than by ORDER BY because a PostgreSQL database's
 * collation (en_US, …) orders text differently from SQLite's binary order; both backends must list alike.
 */
function byCodeUnits<T>(rows: T[], keys: (row: T) => string[]): T[] {
  return rows.sort((a, b) => {
    const ka = keys(a);
    const kb = keys(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  });
}

/**
 * The key of a nonce record. A hash: an SE nonce is a whole attestation-request JSON (specs/kbs-protocol.md
 * §1.3), too long for a btree key. The primary key makes the insert the atomic test-and-set across replicas.
 */
function nonceKey(nonce: string): string {
  return createHash('sha256').update(checkString(nonce, 'nonce', LIMITS.jsonChars), 'utf8').digest('hex');
}

function resourceAad(k: CheckedResourceKey): string {
  return `resource:${k.namespace}/${k.repository}/${k.type}/${k.tag}`;
}


/**
 * Opens the store on a migrated database: migrates, then checks the KEK against the stored key check so a
 * wrong key fails at open with a clear error instead of at the first secret read.
 */
export async function openSqlStore(options: SqlStoreOptions): Promise<Store> {
  const { db, dialect, kek } = options;
  try {
    const migrate = () => migrateToLatest(db, dialect);
    await (options.exclusive === undefined ? migrate() : options.exclusive(migrate));
  } catch (e) {
    await db.destroy().catch(() => {});
    throw wrapDbError(e, 'migrating the schema');
  }
  try {
    await verifyKek(db, kek);
  } catch (e) {
    await db.destroy().catch(() => {});
    throw e instanceof CocoError ? e : wrapDbError(e, 'checking the key-encryption key');
  }
  let hot: HotPath;
  try {
    hot = options.hotPath === undefined ? kyselyHotPath(db) : await options.hotPath();
  } catch (e) {
    await db.destroy().catch(() => {});
    throw wrapDbError(e, 'opening the request-path connection');
  }
  return new SqlStore(options, hot);
}

function kekCheck(kek: Uint8Array): string {
  return JSON.stringify({
    fingerprint: kekFingerprint(kek),
    check: Buffer.from(seal(kek, Buffer.from(KEK_CHECK_PLAINTEXT), KEK_CHECK_AAD)).toString('base64'),
  });
}

async function verifyKek(db: Kysely<Database>, kek: Uint8Array): Promise<void> {
  const mine = kekCheck(kek);
  await db
    .insertInto('cocokit_meta')
    .values({ key: 'kek_check', value: mine })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('cocokit_meta').select('value').where('key', '=', 'kek_check').executeTakeFirstOrThrow();
  const stored = JSON.parse(row.value) as { fingerprint: string; check: string };
  try {
    open(kek, Buffer.from(stored.check, 'base64'), KEK_CHECK_AAD);
  } catch {
    throw new CocoError(
      'STORE_KEK_MISMATCH',
      `the store was created with a different key-encryption key (fingerprint ${stored.fingerprint}); the given key has fingerprint ${kekFingerprint(kek)}`,
      { kind: 'crypto', detail: { expected: stored.fingerprint, given: kekFingerprint(kek) } },
    );
  }
}

/** Driver errors become CocoErrors; connection failures are `unavailable`, anything else `internal`. */
function wrapDbError(e: unknown, doing: string): CocoError {
  if (e instanceof CocoError) return e;
  const err = e as { code?: string; message?: string };
  const code = typeof err?.code === 'string' ? err.code : '';
  const unavailable =
    ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EACCES', 'ENOENT', 'SQLITE_BUSY', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', '57P01', '57P03', '53300'].includes(code) ||
    code.startsWith('08');
  const out = asCocoError(e, 'STORE_BACKEND', unavailable ? 'unavailable' : 'internal');
  return new CocoError(out.code, `store error while ${doing}: ${out.message}`, { kind: out.kind, cause: e });
}

/** A page cursor: base64url of the JSON array of the last item's sort key. Opaque to callers. */
function encodeCursor(key: string[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function checkPage(page: PageRequest, keyLength: number): { limit: number; after?: string[] } {
  if (typeof page !== 'object' || page === null) throw new CocoError('STORE_ARGUMENT', 'page request must be an object', { kind: 'input' });
  const limit = checkLimit(page.limit, PAGE_LIMITS.default, PAGE_LIMITS.max);
  if (page.cursor === undefined) return { limit };
  const bad = () => new CocoError('STORE_CURSOR', 'page cursor is not one this store handed out', { kind: 'input' });
  if (typeof page.cursor !== 'string' || page.cursor.length > 4 * LIMITS.idChars * keyLength || !/^[A-Za-z0-9_-]+$/.test(page.cursor)) throw bad();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(page.cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(key) || key.length !== keyLength || !key.every((k) => typeof k === 'string' && k.length <= LIMITS.idChars)) throw bad();
  return { limit, after: key as string[] };
}

class SqlStore implements Store {
  readonly backend: 'sqlite' | 'postgres';
  readonly resources: ResourceStore;
  readonly sessions: SessionStore;
  readonly nonces: NonceStore;
  readonly policies: PolicyStore;
  readonly referenceValues: ReferenceValueStore;
  readonly workloads: WorkloadStore;
  readonly audit: AuditLog;
  readonly kv: KvStore;
  readonly changes?: ChangeFeed;

  readonly #db: Kysely<Database>;
  readonly #options: SqlStoreOptions;
  /** Set on the view a transaction hands out: nesting is refused, closing is the outer store's business. */
  readonly #inTransaction: boolean;
  readonly #dialect: Dialect;
  readonly #hot: HotPath;
  #kek: Uint8Array;
  readonly #now: () => Date;
  readonly #onClose: (() => Promise<void> | void) | undefined;
  readonly #reclaimSpace: (() => Promise<void> | void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(o: SqlStoreOptions, hot: HotPath, inTransaction = false) {
    this.backend = o.dialect;
    if (o.changes !== undefined && !inTransaction) this.changes = o.changes;
    this.#options = o;
    this.#inTransaction = inTransaction;
    this.#db = o.db;
    this.#dialect = o.dialect;
    this.#hot = hot;
    this.#kek = o.kek;
    this.#now = o.now;
    this.#onClose = o.onClose;
    this.#reclaimSpace = o.reclaimSpace;
    this.resources = {
      get: (k) => this.#run('reading a resource', () => this.#getResource(k)),
      put: (k, v) => this.#run('writing a resource', () => this.#putResource(k, v)),
      delete: (k) => this.#run('deleting a resource', () => this.#deleteResource(k)),
      list: (f) => this.#run('listing resources', () => this.#listResources(f)),
      page: (f, p) => this.#run('listing resources', () => this.#pageResources(f, p)),
    };
    this.sessions = {
      get: (id) => this.#run('reading a session', () => this.#getSession(id)),
      put: (s) => this.#run('writing a session', () => this.#putSession(s)),
      delete: (id) => this.#run('deleting a session', () => this.#deleteSession(id)),
      attempt: (id, nonce) => this.#run('reading a session', () => this.#attemptSession(id, nonce)),
    };
    this.nonces = {
      consume: (n, exp) => this.#run('consuming a nonce', () => this.#consumeNonce(n, exp)),
    };
    this.policies = {
      get: (kind, id) => this.#run('reading a policy', () => this.#getPolicy(kind, id)),
      put: (kind, id, text) => this.#run('writing a policy', () => this.#putPolicy(kind, id, text)),
      delete: (kind, id) => this.#run('deleting a policy', () => this.#deletePolicy(kind, id)),
      list: (kind) => this.#run('listing policies', () => this.#listPolicies(kind)),
    };
    this.referenceValues = {
      get: (name) => this.#run('reading a reference value', () => this.#getRv(name)),
      set: (name, value, exp, prov) => this.#run('writing a reference value', () => this.#setRv(name, value, exp, prov)),
      delete: (name) => this.#run('deleting a reference value', () => this.#deleteRv(name)),
      list: () => this.#run('listing reference values', () => this.#listRv()),
    };
    this.workloads = {
      get: (id) => this.#run('reading a workload', () => this.#getWorkload(id)),
      put: (w, v) => this.#run('writing a workload', () => this.#putWorkload(w, v)),
      delete: (id) => this.#run('deleting a workload', () => this.#deleteWorkload(id)),
      list: (ns) => this.#run('listing workloads', () => this.#listWorkloads(ns)),
      page: (ns, p) => this.#run('listing workloads', () => this.#pageWorkloads(ns, p)),
    };
    this.audit = {
      append: (e) => this.#run('appending to the audit log', () => this.#appendAudit(e)),
      appendChain: (kind, link, keep) => this.#run('appending to the audit log', () => this.#appendChain(kind, link, keep)),
      list: (q) => this.#run('reading the audit log', () => this.#listAudit(q)),
      prune: (before) => this.#run('pruning the audit log', () => this.#pruneAudit(before)),
      retain: (policy) => this.#run('pruning the audit log', () => this.#retainAudit(policy)),
    };
    this.kv = {
      get: (k) => this.#run('reading server state', () => this.#getKv(k)),
      put: (k, v) => this.#run('writing server state', () => this.#putKv(k, v)),
      putIfAbsent: (k, v) => this.#run('writing server state', () => this.#putKvIfAbsent(k, v)),
      delete: (k) => this.#run('deleting server state', () => this.#deleteKv(k)),
      deleteUnchained: (keys, chain) => this.#run('deleting server state', () => this.#deleteKvUnchained(keys, chain)),
      keys: (prefix) => this.#run('listing server state', () => this.#kvKeys(prefix)),
    };
  }

  async #run<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new CocoError('STORE_CLOSED', `the store is closed (${doing})`, { kind: 'internal' });
    try {
      return await fn();
    } catch (e) {
      throw wrapDbError(e, doing);
    }
  }

  #nowMs(): number {
    const t = this.#now().getTime();
    if (!Number.isFinite(t)) throw new CocoError('STORE_CLOCK', 'the injected clock returned an invalid date', { kind: 'internal' });
    return t;
  }

  // -- resources ------------------------------------------------------------------------------------------

  async #getResource(key: ResourceKey): Promise<Uint8Array | undefined> {
    const k = checkResourceKey(key);
    const value = await this.#hot.resourceGet(k);
    return value === undefined ? undefined : open(this.#kek, value, resourceAad(k));
  }

  async #putResource(key: ResourceKey, value: Uint8Array): Promise<void> {
    const k = checkResourceKey(key);
    const v = checkBytes(value, 'resource value', LIMITS.resourceBytes);
    const sealed = Buffer.from(seal(this.#kek, v, resourceAad(k)));
    const now = this.#nowMs();
    await this.#db
      .insertInto('resources')
      .values({ ...k, value: sealed, size: v.length, updated_at: now })
      .onConflict((oc) => oc.columns(['namespace', 'repository', 'type', 'tag']).doUpdateSet({ value: sealed, size: v.length, updated_at: now }))
      .execute();
  }

  async #deleteResource(key: ResourceKey): Promise<boolean> {
    const k = checkResourceKey(key);
    const r = await this.#db
      .deleteFrom('resources')
      .where('namespace', '=', k.namespace)
      .where('repository', '=', k.repository)
      .where('type', '=', k.type)
      .where('tag', '=', k.tag)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async #listResources(filter: ResourceFilter = {}) {
    if (typeof filter !== 'object' || filter === null) throw new CocoError('STORE_ARGUMENT', 'resource filter must be an object', { kind: 'input' });
    let q = this.#db.selectFrom('resources').select(['namespace', 'repository', 'type', 'tag', 'size', 'updated_at']);
    if (filter.namespace !== undefined) q = q.where('namespace', '=', checkSegment(filter.namespace, 'namespace'));
    if (filter.repository !== undefined) q = q.where('repository', '=', checkSegment(filter.repository, 'resource repository'));
    if (filter.type !== undefined) q = q.where('type', '=', checkSegment(filter.type, 'resource type'));
    const rows = byCodeUnits(await q.execute(), (r) => [r.namespace, r.repository, r.type, r.tag]);
    return rows.map((r) => ({
      namespace: r.namespace,
      repository: r.repository,
      type: r.type,
      tag: r.tag,
      size: ms(r.size),
      updatedAt: new Date(ms(r.updated_at)),
    }));
  }

  /** A column in byte order: SQLite compares text with memcmp already; PostgreSQL needs the "C" collation. */
  #bytewise(column: string): RawBuilder<unknown> {
    return this.#dialect === 'postgres' ? sql`${sql.ref(column)} COLLATE "C"` : sql`${sql.ref(column)}`;
  }

  async #pageResources(filter: ResourceFilter = {}, page: PageRequest = {}): Promise<Page<ResourceInfo>> {
    if (typeof filter !== 'object' || filter === null) throw new CocoError('STORE_ARGUMENT', 'resource filter must be an object', { kind: 'input' });
    const { limit, after } = checkPage(page, 4);
    let q = this.#db.selectFrom('resources').select(['namespace', 'repository', 'type', 'tag', 'size', 'updated_at']);
    if (filter.namespace !== undefined) q = q.where('namespace', '=', checkSegment(filter.namespace, 'namespace'));
    if (filter.repository !== undefined) q = q.where('repository', '=', checkSegment(filter.repository, 'resource repository'));
    if (filter.type !== undefined) q = q.where('type', '=', checkSegment(filter.type, 'resource type'));
    const cols = ['namespace', 'repository', 'type', 'tag'].map((c) => this.#bytewise(c));
    // Segments are ASCII ([A-Za-z0-9_.-]), so byte order is the code-unit order `list` promises.
    if (after) q = q.where(sql<boolean>`(${sql.join(cols)}) > (${sql.join(after)})`);
    for (const c of cols) q = q.orderBy(c);
    const rows = await q.limit(limit + 1).execute();
    const items = rows.slice(0, limit).map((r) => ({
      namespace: r.namespace,
      repository: r.repository,
      type: r.type,
      tag: r.tag,
      size: ms(r.size),
      updatedAt: new Date(ms(r.updated_at)),
    }));
    const last = items[items.length - 1];
    return rows.length > limit ? { items, next: encodeCursor([last.namespace, last.repository, last.type, last.tag]) } : { items };
  }

  // -- sessions -------------------------------------------------------------------------------------------

  async #getSession(idArg: string): Promise<SessionRecord | undefined> {
    // The id comes straight from a client cookie: one `put` could never have stored is simply unknown.
    if (!storableId(idArg)) return undefined;
    return this.#sessionOf(idArg, await this.#hot.sessionGet(idArg), this.#nowMs());
  }

  async #attemptSession(idArg: string, nonceArg: string): Promise<{ session: SessionRecord | undefined; fresh: boolean }> {
    if (!spendableNonce(nonceArg)) return { session: await this.#getSession(idArg), fresh: false };
    const nonceHash = nonceKey(nonceArg);
    if (!storableId(idArg)) return { session: undefined, fresh: false };
    const now = this.#nowMs();
    const { row, inserted } = await this.#hot.sessionGetNonceInsert(idArg, nonceHash, now);
    const session = await this.#sessionOf(idArg, row, now);
    if (inserted && session?.nonce !== nonceArg) {
      // Not this session's challenge: no record is left of it (another trip, on this refused path only).
      await this.#hot.nonceDelete(nonceHash);
      return { session, fresh: false };
    }
    return { session, fresh: session !== undefined && inserted };
  }

  /** The session a row holds; an expired row is deleted on the way (undefined). */
  async #sessionOf(id: string, row: { expires_at: Int64; body: Uint8Array } | undefined, now: number): Promise<SessionRecord | undefined> {
    if (row === undefined) return undefined;
    if (ms(row.expires_at) <= now) {
      // Trustee deletes an expired session when it is looked up (specs/kbs-protocol.md §1.3). The guard on
      // expires_at keeps a concurrent refresh of the same id from being deleted.
      await this.#hot.sessionDeleteExpired(id, now);
      return undefined;
    }
    return sessionFromBody(id, JSON.parse(Buffer.from(open(this.#kek, row.body, `session:${id}`)).toString('utf8')) as SessionBody);
  }

  async #putSession(s: SessionRecord): Promise<void> {
    const { id, body, text } = checkSession(s);
    const sealed = Buffer.from(seal(this.#kek, Buffer.from(text, 'utf8'), `session:${id}`));
    await this.#hot.sessionPut(id, body.expiresAt, sealed);
  }

  async #deleteSession(idArg: string): Promise<boolean> {
    if (!storableId(idArg)) return false;
    const id = idArg;
    return this.#hot.sessionDelete(id);
  }

  // -- nonces ---------------------------------------------------------------------------------------------

  async #consumeNonce(nonceArg: string, expiresAtArg: Date): Promise<boolean> {
    const nonceHash = nonceKey(nonceArg);
    const expiresAt = checkDate(expiresAtArg, 'nonce expiresAt').getTime();
    if (expiresAt <= this.#nowMs()) return false;
    return this.#hot.nonceInsert(nonceHash, expiresAt);
  }

  // -- policies -------------------------------------------------------------------------------------------

  async #getPolicy(kindArg: PolicyKind, idArg: string) {
    const kind = checkPolicyKind(kindArg);
    const id = checkString(idArg, 'policy id');
    const row = await this.#hot.policyGet(kind, id);
    return row === undefined ? undefined : { kind, id, text: row.text, updatedAt: new Date(ms(row.updated_at)) };
  }

  async #putPolicy(kindArg: PolicyKind, idArg: string, textArg: string): Promise<void> {
    const kind = checkPolicyKind(kindArg);
    const id = checkString(idArg, 'policy id');
    if (typeof textArg !== 'string') throw new CocoError('STORE_ARGUMENT', 'policy text must be a string', { kind: 'input' });
    const text = checkString(textArg, 'policy text', LIMITS.policyChars, true);
    const now = this.#nowMs();
    await this.#db
      .insertInto('policies')
      .values({ kind, id, text, updated_at: now })
      .onConflict((oc) => oc.columns(['kind', 'id']).doUpdateSet({ text, updated_at: now }))
      .execute();
  }

  async #deletePolicy(kindArg: PolicyKind, idArg: string): Promise<boolean> {
    const kind = checkPolicyKind(kindArg);
    const id = checkString(idArg, 'policy id');
    const r = await this.#db.deleteFrom('policies').where('kind', '=', kind).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async #listPolicies(kindArg: PolicyKind) {
    const kind = checkPolicyKind(kindArg);
    const rows = byCodeUnits(await this.#db.selectFrom('policies').select(['id', 'text', 'updated_at']).where('kind', '=', kind).execute(), (r) => [r.id]);
    return rows.map((r) => ({ kind, id: r.id, size: Buffer.byteLength(r.text, 'utf8'), updatedAt: new Date(ms(r.updated_at)) }));
  }

  // -- reference values -----------------------------------------------------------------------------------

  #rvRecord(r: Database['reference_values']): ReferenceValueRecord {
    const out: ReferenceValueRecord = { name: r.name, value: JSON.parse(r.value) as JsonValue, updatedAt: new Date(ms(r.updated_at)) };
    if (r.expires_at !== null) out.expiresAt = new Date(ms(r.expires_at));
    if (r.provenance !== null) out.provenance = JSON.parse(r.provenance) as JsonValue;
    return out;
  }

  async #getRv(nameArg: string) {
    const name = checkString(nameArg, 'reference value name');
    const row = await this.#db.selectFrom('reference_values').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : this.#rvRecord(row);
  }

  async #setRv(nameArg: string, value: JsonValue, expiresAtArg?: Date, provenanceArg?: JsonValue): Promise<void> {
    const name = checkString(nameArg, 'reference value name');
    if (value === undefined) throw new CocoError('STORE_ARGUMENT', 'reference value must be a JSON value, got undefined', { kind: 'input' });
    const text = toJsonText(value, `reference value ${name}`);
    const expiresAt = expiresAtArg === undefined ? null : checkDate(expiresAtArg, 'reference value expiresAt').getTime();
    const provenance = provenanceArg === undefined ? null : toJsonText(provenanceArg, `provenance of reference value ${name}`);
    const now = this.#nowMs();
    await this.#db
      .insertInto('reference_values')
      .values({ name, value: text, expires_at: expiresAt, updated_at: now, provenance })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: text, expires_at: expiresAt, updated_at: now, provenance }))
      .execute();
  }

  async #deleteRv(nameArg: string): Promise<boolean> {
    const name = checkString(nameArg, 'reference value name');
    const r = await this.#db.deleteFrom('reference_values').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async #listRv() {
    const rows = byCodeUnits(await this.#db.selectFrom('reference_values').selectAll().execute(), (r) => [r.name]);
    return rows.map((r) => this.#rvRecord(r));
  }

  // -- workloads ------------------------------------------------------------------------------------------

  #workloadRecord(r: Database['workloads']): WorkloadRecord {
    return {
      id: r.id,
      namespace: r.namespace,
      tee: r.tee,
      referenceValues: JSON.parse(r.reference_values) as JsonValue,
      policy: r.policy,
      version: ms(r.version),
      createdAt: new Date(ms(r.created_at)),
      updatedAt: new Date(ms(r.updated_at)),
    };
  }

  async #getWorkload(idArg: string) {
    const id = checkString(idArg, 'workload id');
    const row = await this.#db.selectFrom('workloads').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : this.#workloadRecord(row);
  }

  async #putWorkload(w: WorkloadInput, expectedVersion?: number): Promise<WorkloadRecord> {
    if (typeof w !== 'object' || w === null) throw new CocoError('STORE_ARGUMENT', 'workload must be an object', { kind: 'input' });
    const id = checkString(w.id, 'workload id');
    const namespace = checkNamespace(w.namespace ?? DEFAULT_NAMESPACE);
    const tee = checkString(w.tee, 'workload tee');
    if (w.referenceValues === undefined) throw new CocoError('STORE_ARGUMENT', 'workload referenceValues must be a JSON value', { kind: 'input' });
    const rv = toJsonText(w.referenceValues, 'workload referenceValues');
    if (typeof w.policy !== 'string') throw new CocoError('STORE_ARGUMENT', 'workload policy must be a string', { kind: 'input' });
    const policy = checkString(w.policy, 'workload policy', LIMITS.policyChars, true);
    if (expectedVersion !== undefined && (typeof expectedVersion !== 'number' || !Number.isInteger(expectedVersion) || expectedVersion < 0)) {
      throw new CocoError('STORE_ARGUMENT', 'expected workload version must be a non-negative integer', { kind: 'input' });
    }
    const now = this.#nowMs();
    const conflict = (found: string) =>
      new CocoError('STORE_CONFLICT', `workload ${id} is at version ${found}, not the expected ${expectedVersion}`, { kind: 'conflict' });

    if (expectedVersion === 0) {
      const r = await this.#db
        .insertInto('workloads')
        .values({ id, namespace, tee, reference_values: rv, policy, version: 1, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      if (Number(r.numInsertedOrUpdatedRows ?? 0) !== 1) throw conflict('≥ 1');
    } else if (expectedVersion !== undefined) {
      // Compare-and-set on the version column: two replicas updating from the same version cannot both win.
      const r = await this.#db
        .updateTable('workloads')
        .set({ namespace, tee, reference_values: rv, policy, version: expectedVersion + 1, updated_at: now })
        .where('id', '=', id)
        .where('version', '=', expectedVersion)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        const cur = await this.#db.selectFrom('workloads').select('version').where('id', '=', id).executeTakeFirst();
        throw conflict(cur === undefined ? '0 (absent)' : String(ms(cur.version)));
      }
    } else {
      await this.#db
        .insertInto('workloads')
        .values({ id, namespace, tee, reference_values: rv, policy, version: 1, created_at: now, updated_at: now })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            namespace,
            tee,
            reference_values: rv,
            policy,
            version: eb(eb.ref('workloads.version'), '+', 1),
            updated_at: now,
          })),
        )
        .execute();
    }
    const row = await this.#db.selectFrom('workloads').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return this.#workloadRecord(row);
  }

  async #deleteWorkload(idArg: string): Promise<boolean> {
    const id = checkString(idArg, 'workload id');
    const r = await this.#db.deleteFrom('workloads').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async #pageWorkloads(namespaceArg?: string, page: PageRequest = {}): Promise<Page<WorkloadRecord>> {
    const { limit, after } = checkPage(page, 1);
    let q = this.#db.selectFrom('workloads').selectAll();
    if (namespaceArg !== undefined) q = q.where('namespace', '=', checkSegment(namespaceArg, 'namespace'));
    const id = this.#bytewise('id');
    if (after) q = q.where(sql<boolean>`${id} > ${after[0]}`);
    const rows = await q.orderBy(id).limit(limit + 1).execute();
    const items = rows.slice(0, limit).map((r) => this.#workloadRecord(r));
    return rows.length > limit ? { items, next: encodeCursor([items[items.length - 1].id]) } : { items };
  }

  async #listWorkloads(namespaceArg?: string) {
    let q = this.#db.selectFrom('workloads').selectAll();
    if (namespaceArg !== undefined) q = q.where('namespace', '=', checkSegment(namespaceArg, 'namespace'));
    const rows = byCodeUnits(await q.execute(), (r) => [r.id]);
    return rows.map((r) => this.#workloadRecord(r));
  }

  // -- audit ----------------------------------------------------------------------------------------------

  async #appendAudit(e: AuditEventInput): Promise<AuditEvent> {
    if (typeof e !== 'object' || e === null) throw new CocoError('STORE_ARGUMENT', 'audit event must be an object', { kind: 'input' });
    const time = e.time === undefined ? this.#nowMs() : checkDate(e.time, 'audit time').getTime();
    const kind = checkString(e.kind, 'audit kind');
    const subject = checkString(e.subject, 'audit subject', LIMITS.jsonChars, true);
    const outcome = checkString(e.outcome, 'audit outcome');
    const detail = e.detail === undefined ? null : toJsonText(e.detail, 'audit detail', LIMITS.auditDetailChars);
    const id = kind.startsWith(HOT_AUDIT_PREFIX)
      ? await this.#hot.auditInsert({ time, kind, subject, outcome, detail })
      : ms((await this.#db.insertInto('audit').values({ time, kind, subject, outcome, detail }).returning('id').executeTakeFirstOrThrow()).id);
    return { id, time: new Date(time), kind, subject, outcome, detail: detail === null ? null : (JSON.parse(detail) as JsonValue) };
  }

  /** The keys of `keep`, checked; and how the hot path seals the values of those missing. */
  #hotKeep(keep: ChainKeep | undefined): HotKeep | undefined {
    if (keep === undefined) return undefined;
    if (typeof keep !== 'object' || keep === null || !Array.isArray(keep.keys) || typeof keep.value !== 'function') {
      throw new CocoError('STORE_ARGUMENT', 'chain keep must have keys and a value function', { kind: 'input' });
    }
    const keys = [...new Set(keep.keys.map((k) => checkString(k, 'state key')))];
    return {
      keys,
      rows: (missing) => {
        const now = this.#nowMs();
        return missing.map((key) => ({ key, value: Buffer.from(seal(this.#kek, checkBytes(keep.value(key), 'state value', LIMITS.kvBytes), `kv:${key}`)), updated_at: now }));
      },
    };
  }

  async #appendChain(kindArg: string, link: (head: JsonValue | null) => ChainedEventInput[], keep?: ChainKeep): Promise<number[]> {
    const kind = checkString(kindArg, 'audit kind');
    if (!kind.startsWith(HOT_AUDIT_PREFIX)) throw new CocoError('STORE_ARGUMENT', `only ${HOT_AUDIT_PREFIX}* events form chains, not ${kind}`, { kind: 'input' });
    if (typeof link !== 'function') throw new CocoError('STORE_ARGUMENT', 'audit chain link must be a function', { kind: 'input' });
    const hotKeep = this.#hotKeep(keep);
    return this.#hot.auditAppendChain(kind, (head) => {
      // The head this store appended stands for its detail (`ChainedEventInput.head`): no read, no parse.
      const events = link(head === null ? null : head.head !== undefined ? (head.head as JsonValue) : head.detail === null ? null : (JSON.parse(head.detail) as JsonValue));
      if (!Array.isArray(events)) throw new CocoError('STORE_ARGUMENT', 'audit chain link must return an array', { kind: 'input' });
      return events.map((e, i) => {
        if (typeof e !== 'object' || e === null) throw new CocoError('STORE_ARGUMENT', 'chained audit event must be an object', { kind: 'input' });
        if (typeof e.detail !== 'string') throw new CocoError('STORE_ARGUMENT', 'chained audit detail must be JSON text', { kind: 'input' });
        if (e.detail.length > LIMITS.auditDetailChars) {
          throw new CocoError('STORE_TOO_LARGE', `audit detail is ${e.detail.length} characters of JSON, more than ${LIMITS.auditDetailChars}`, { kind: 'limit' });
        }
        const row = {
          time: checkDate(e.time, 'audit time').getTime(),
          kind,
          subject: checkString(e.subject, 'audit subject', LIMITS.jsonChars, true),
          outcome: checkString(e.outcome, 'audit outcome'),
          detail: e.detail,
        };
        // The last event's head, copied and frozen: the next links get it, never the caller's own object.
        return i === events.length - 1 && e.head !== undefined ? { ...row, head: deepFreeze(JSON.parse(toJsonText(e.head, 'chained audit head')) as JsonValue) } : row;
      });
    }, hotKeep);
  }

  async #listAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    if (typeof query !== 'object' || query === null) throw new CocoError('STORE_ARGUMENT', 'audit query must be an object', { kind: 'input' });
    const limit = checkLimit(query.limit, 100, 10_000);
    let q = this.#db.selectFrom('audit').selectAll();
    if (query.kind !== undefined) q = q.where('kind', '=', checkString(query.kind, 'audit kind'));
    if (query.subject !== undefined) q = q.where('subject', '=', checkString(query.subject, 'audit subject', LIMITS.jsonChars, true));
    if (query.outcome !== undefined) q = q.where('outcome', '=', checkString(query.outcome, 'audit outcome'));
    if (query.since !== undefined) q = q.where('time', '>=', checkDate(query.since, 'audit since').getTime());
    if (query.beforeId !== undefined) {
      if (typeof query.beforeId !== 'number' || !Number.isInteger(query.beforeId)) {
        throw new CocoError('STORE_ARGUMENT', 'audit beforeId must be an integer', { kind: 'input' });
      }
      q = q.where('id', '<', query.beforeId);
    }
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: ms(r.id),
      time: new Date(ms(r.time)),
      kind: r.kind,
      subject: r.subject,
      outcome: r.outcome,
      detail: r.detail === null ? null : (JSON.parse(r.detail) as JsonValue),
    }));
  }

  async #pruneAudit(beforeArg: Date): Promise<number> {
    const before = checkDate(beforeArg, 'audit prune time').getTime();
    const r = await this.#db.deleteFrom('audit').where('time', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async #retainAudit(policy: AuditRetention): Promise<number> {
    if (typeof policy !== 'object' || policy === null) throw new CocoError('STORE_ARGUMENT', 'audit retention must be an object', { kind: 'input' });
    const before = policy.olderThan === undefined ? undefined : checkDate(policy.olderThan, 'audit retention time').getTime();
    const keep = policy.keepNewest;
    if (keep !== undefined && (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0)) {
      throw new CocoError('STORE_ARGUMENT', 'audit keepNewest must be a non-negative integer', { kind: 'input' });
    }
    // Everything at or below this id is beyond the newest `keep` events; it is fixed once so appends during
    // the prune are not counted against the events being kept.
    let lastDroppedId: number | undefined;
    if (keep !== undefined) {
      const row = await this.#db.selectFrom('audit').select('id').orderBy('id', 'desc').limit(1).offset(keep).executeTakeFirst();
      if (row) lastDroppedId = ms(row.id);
    }
    const batch = policy.batchRows ?? AUDIT_PRUNE_BATCH;
    if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1) throw new CocoError('STORE_ARGUMENT', 'audit batchRows must be a positive integer', { kind: 'input' });
    if (before === undefined && lastDroppedId === undefined) return 0;
    let deleted = 0;
    for (;;) {
      const doomed = this.#db.selectFrom('audit').where((eb) =>
        eb.or([...(before === undefined ? [] : [eb('time', '<', before)]), ...(lastDroppedId === undefined ? [] : [eb('id', '<=', lastDroppedId)])]),
      );
      // The id ending this batch; none means the rest fits in one statement.
      const edge = await doomed.select('id').orderBy('id', 'asc').limit(1).offset(batch - 1).executeTakeFirst();
      let q = this.#db.deleteFrom('audit').where((eb) =>
        eb.or([...(before === undefined ? [] : [eb('time', '<', before)]), ...(lastDroppedId === undefined ? [] : [eb('id', '<=', lastDroppedId)])]),
      );
      if (edge) q = q.where('id', '<=', ms(edge.id));
      deleted += Number((await q.executeTakeFirst()).numDeletedRows);
      if (!edge) return deleted;
      // Let requests in between batches (better-sqlite3 runs each statement on the event loop).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  // -- kv -------------------------------------------------------------------------------------------------

  async #getKv(keyArg: string) {
    const key = checkString(keyArg, 'state key');
    const row = await this.#db.selectFrom('kv').select('value').where('key', '=', key).executeTakeFirst();
    return row === undefined ? undefined : open(this.#kek, row.value, `kv:${key}`);
  }

  async #putKv(keyArg: string, value: Uint8Array): Promise<void> {
    const key = checkString(keyArg, 'state key');
    const sealed = Buffer.from(seal(this.#kek, checkBytes(value, 'state value', LIMITS.kvBytes), `kv:${key}`));
    const now = this.#nowMs();
    await this.#db
      .insertInto('kv')
      .values({ key, value: sealed, updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: sealed, updated_at: now }))
      .execute();
  }

  async #putKvIfAbsent(keyArg: string, value: Uint8Array): Promise<Uint8Array> {
    const key = checkString(keyArg, 'state key');
    const sealed = Buffer.from(seal(this.#kek, checkBytes(value, 'state value', LIMITS.kvBytes), `kv:${key}`));
    await this.#db
      .insertInto('kv')
      .values({ key, value: sealed, updated_at: this.#nowMs() })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const row = await this.#db.selectFrom('kv').select('value').where('key', '=', key).executeTakeFirstOrThrow();
    return open(this.#kek, row.value, `kv:${key}`);
  }

  async #deleteKv(keyArg: string): Promise<boolean> {
    const key = checkString(keyArg, 'state key');
    const r = await this.#db.deleteFrom('kv').where('key', '=', key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async #deleteKvUnchained(keysArg: readonly string[], chain: ChainNames): Promise<string[]> {
    if (!Array.isArray(keysArg)) throw new CocoError('STORE_ARGUMENT', 'state keys must be an array', { kind: 'input' });
    const keys = keysArg.map((k) => checkString(k, 'state key'));
    if (typeof chain !== 'object' || chain === null || typeof chain.named !== 'function') throw new CocoError('STORE_ARGUMENT', 'chain names must have a named function', { kind: 'input' });
    const kind = checkString(chain.kind, 'audit kind');
    if (typeof chain.afterId !== 'number' || !Number.isSafeInteger(chain.afterId)) throw new CocoError('STORE_ARGUMENT', 'chain afterId must be an integer', { kind: 'input' });
    if (keys.length === 0) return [];
    return this.#hot.kvDeleteUnchained(keys, kind, chain.afterId, (detail) => chain.named(detail === null ? null : (JSON.parse(detail) as JsonValue)));
  }

  async #kvKeys(prefixArg: string): Promise<string[]> {
    const prefix = checkString(prefixArg, 'state key prefix');
    // substr compares code units on both backends, whatever the column's collation.
    const rows = await this.#db
      .selectFrom('kv')
      .select('key')
      .where(sql<string>`substr(key, 1, ${prefix.length})`, '=', prefix)
      .execute();
    return rows.map((r) => r.key).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // -- transactions ---------------------------------------------------------------------------------------

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return Promise.reject(new CocoError('STORE_NESTED_TRANSACTION', 'transactions do not nest', { kind: 'internal' }));
    return this.#run('running a transaction', () =>
      // The view shares this store's key and clock but issues every statement on the transaction's connection.
      this.#db.transaction().execute((trx) => fn(new SqlStore({ ...this.#options, db: trx, kek: this.#kek }, kyselyHotPath(trx, undefined, this.#dialect), true))),
    );
  }

  // -- key rotation ---------------------------------------------------------------------------------------

  rotateKek(source: KekSource): Promise<RotateResult> {
    return this.#run('rotating the key-encryption key', async () => {
      const next = loadKek(source);
      const old = this.#kek;
      // One transaction: a failure half-way leaves every row under the old key.
      const counts = await this.#db.transaction().execute(async (trx) => {
        const resources = await trx
          .selectFrom('resources')
          .select(['namespace', 'repository', 'type', 'tag', 'value'])
          .orderBy('namespace')
          .orderBy('repository')
          .orderBy('type')
          .orderBy('tag')
          .execute();
        for (const r of resources) {
          const aad = resourceAad(r);
          await trx
            .updateTable('resources')
            .set({ value: Buffer.from(seal(next, open(old, r.value, aad), aad)) })
            .where('namespace', '=', r.namespace)
            .where('repository', '=', r.repository)
            .where('type', '=', r.type)
            .where('tag', '=', r.tag)
            .execute();
        }
        const sessions = await trx.selectFrom('sessions').select(['id', 'body']).execute();
        for (const r of sessions) {
          const aad = `session:${r.id}`;
          await trx.updateTable('sessions').set({ body: Buffer.from(seal(next, open(old, r.body, aad), aad)) }).where('id', '=', r.id).execute();
        }
        const kv = await trx.selectFrom('kv').select(['key', 'value']).execute();
        for (const r of kv) {
          const aad = `kv:${r.key}`;
          await trx.updateTable('kv').set({ value: Buffer.from(seal(next, open(old, r.value, aad), aad)) }).where('key', '=', r.key).execute();
        }
        await trx.updateTable('cocokit_meta').set({ value: kekCheck(next) }).where('key', '=', 'kek_check').execute();
        return { resources: resources.length, sessions: sessions.length, kv: kv.length };
      });
      this.#kek = next;
      return { ...counts, fingerprint: kekFingerprint(next) };
    });
  }

  // -- lifecycle ------------------------------------------------------------------------------------------

  sweepExpired(nowArg?: Date): Promise<SweepResult> {
    return this.#run('sweeping expired records', async () => {
      const now = nowArg === undefined ? this.#nowMs() : checkDate(nowArg, 'sweep time').getTime();
      // A busy KBS expires a minute of nonces between sweeps, tens of thousands of rows: they go in bounded
      // batches, and requests are served between them (a SQLite store runs each statement within the turn).
      const sweep = async (table: 'sessions' | 'nonces', key: 'id' | 'nonce_hash'): Promise<number> => {
        let deleted = 0;
        for (;;) {
          const doomed = this.#db.selectFrom(table).select(key).where('expires_at', '<=', now).limit(SWEEP_BATCH);
          const n = Number((await this.#db.deleteFrom(table).where(key, 'in', doomed).executeTakeFirst()).numDeletedRows);
          deleted += n;
          if (n < SWEEP_BATCH || this.#closed) return deleted;
          await nextTurn();
        }
      };
      const sessions = await sweep('sessions', 'id');
      return { sessions, nonces: await sweep('nonces', 'nonce_hash') };
    });
  }

  reclaimSpace(): Promise<void> {
    const reclaim = this.#reclaimSpace;
    if (!reclaim) return this.#run('reclaiming free space', async () => {});
    // Holding the connection: the adapter's raw statements must not land inside another caller's transaction.
    return this.#run('reclaiming free space', () => this.#db.connection().execute(async () => reclaim()));
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await this.#hot.close().catch(() => {});
      await this.#db.destroy();
      await this.#onClose?.();
    })();
    return this.#closing;
  }
}
