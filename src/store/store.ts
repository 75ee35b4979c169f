/**
 * The persistence interface of the KBS: one `Store`, two adapters (embedded SQLite by default, PostgreSQL when
 * several KBS replicas share one deployment — docs/ARCHITECTURE.md "Storage").
 *
 * Everything a replica needs to serve any request lives here: resources (secret bytes, encrypted at rest with
 * AES-256-GCM under a key-encryption key), protocol sessions (specs/kbs-protocol.md §1.3), single-use nonces,
 * policies (§1.1 admin API), reference values (§4 RVPS), workload registrations, the audit log and a small
 * encrypted key-value area for server state such as token signing keys.
 *
 * Conventions shared by every method:
 * - all methods are async and fail only with `CocoError` (codes `STORE_*`): bad arguments are `input`/`limit`
 *   errors, a wrong key-encryption key or tampered ciphertext is a `crypto` error, an unreachable database is
 *   `unavailable`;
 * - timestamps are `Date`s with millisecond precision; "now" is the injected clock of the adapter options;
 * - lookups of an absent record return `undefined`; deletes report whether something was deleted;
 * - secrets (resource values, kv values) are never returned by list methods and never written to the audit log.
 */

/** Any value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The namespace every record is in unless one is given (per-tenant / per-workload scoping). */
export const DEFAULT_NAMESPACE = 'default';

// ---------------------------------------------------------------------------------------------------------
// Resources — `<repository>/<type>/<tag>` → secret bytes (specs/kbs-protocol.md §1.1 resource plugin)

/**
 * Where a resource lives. Each segment must match Trustee's `[A-Za-z0-9_-]+[A-Za-z0-9_.-]*`
 * (TR `plugins/implementations/resource/backend.rs`); so must `namespace`.
 */
export interface ResourceKey {
  /** Tenant / workload scope; `DEFAULT_NAMESPACE` when omitted. */
  namespace?: string;
  repository: string;
  type: string;
  tag: string;
}

/** What `resources.list` tells about a resource: everything except its value. */
export interface ResourceInfo {
  namespace: string;
  repository: string;
  type: string;
  tag: string;
  /** Length of the plaintext value in bytes. */
  size: number;
  updatedAt: Date;
}

export interface ResourceFilter {
  namespace?: string;
  repository?: string;
  type?: string;
}

/** One page of a listing: at most `limit` items and, when more follow, the cursor of the next page. */
export interface PageRequest {
  /** Items per page: default `PAGE_LIMITS.default`, at most `PAGE_LIMITS.max`. */
  limit?: number;
  /** `next` of the previous page; absent for the first page. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow: pass it as `cursor` for the next page. */
  next?: string;
}

export const PAGE_LIMITS = { default: 100, max: 1000 } as const;

export interface ResourceStore {
  /** The decrypted value, or `undefined` when absent. A wrong key or tampered row → `STORE_DECRYPT` (crypto). */
  get(key: ResourceKey): Promise<Uint8Array | undefined>;
  /** Creates or replaces the value (at most `LIMITS.resourceBytes` bytes). */
  put(key: ResourceKey, value: Uint8Array): Promise<void>;
  delete(key: ResourceKey): Promise<boolean>;
  /** Sorted by namespace, repository, type, tag (code-unit order on every backend). Never returns values. */
  list(filter?: ResourceFilter): Promise<ResourceInfo[]>;
  /**
   * The same listing one bounded page at a time (keyset paging: each page is one index range scan, whatever
   * the table size). The cursor names the last item returned, so writes between pages neither repeat nor skip
   * the items that stay; an item added behind the cursor appears on a later page.
   */
  page(filter?: ResourceFilter, page?: PageRequest): Promise<Page<ResourceInfo>>;
}

// ---------------------------------------------------------------------------------------------------------
// Sessions — the RCAR session of specs/kbs-protocol.md §1.3 (`Authed` → `Attested`)

export type SessionState = 'authed' | 'attested';

export interface SessionRecord {
  /** The `kbs-session-id` cookie value (Trustee: simple UUID, 32 lower-case hex). */
  id: string;
  tee: string;
  /** The challenge nonce handed out by `/auth`. */
  nonce: string;
  state: SessionState;
  /** The TEE public key (JWK) from `/attest`, once attested. */
  teePubkey?: JsonValue;
  /** The attestation token issued by `/attest`. */
  token?: string;
  /** Anything else the protocol layer keeps with the session (request extra-params, claims, …). */
  data?: JsonValue;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Sessions and nonces are committed without a disk sync (store/hot-path.ts): they survive a crash of the
 * process, and a power loss may drop the newest ones, which only makes their guests run `/auth` again.
 */
export interface SessionStore {
  /**
   * The session, or `undefined` when absent or expired (an expired one is deleted on the way, as Trustee does).
   * An id no session could have (empty, too long) is simply absent; a non-string id is an input error.
   */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Creates or replaces the session with this id. */
  put(session: SessionRecord): Promise<void>;
  delete(id: string): Promise<boolean>;
  /**
   * An attestation attempt on session `id` presenting challenge `nonce`: the session as `get` reads it and,
   * in the same round trip, the nonce consumed (`NonceStore.consume`, until the session expires) when it is
   * the session's challenge — the attempt spends it, whatever the rest of the request turns out to be. A
   * nonce that is not the session's leaves no record. `fresh` is true when this call consumed it; it answers
   * only for a session in the `authed` state (an attested session's challenge was spent when it was
   * attested, and is not necessarily looked at again). A `nonce` no store could record (empty, longer than
   * `LIMITS.jsonChars`, holding NUL) is no session's challenge: nothing is spent.
   */
  attempt(id: string, nonce: string): Promise<{ session: SessionRecord | undefined; fresh: boolean }>;
}

// ---------------------------------------------------------------------------------------------------------
// Nonces

export interface NonceStore {
  /**
   * True exactly once per nonce, atomically even across several Store instances on one database (several KBS
   * replicas): the first caller records it, every later caller gets false. The record is kept until
   * `expiresAt` and then removed by `sweepExpired`. A nonce whose `expiresAt` is not after now is never
   * accepted (false) and not recorded.
   */
  consume(nonce: string, expiresAt: Date): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------------------
// Policies — attestation policies (by policy id), the resource policy, workload policies

export type PolicyKind = 'attestation' | 'resource' | 'workload';
export const POLICY_KINDS: readonly PolicyKind[] = ['attestation', 'resource', 'workload'];

export interface PolicyRecord {
  kind: PolicyKind;
  id: string;
  text: string;
  updatedAt: Date;
}

export interface PolicyInfo {
  kind: PolicyKind;
  id: string;
  size: number;
  updatedAt: Date;
}

export interface PolicyStore {
  get(kind: PolicyKind, id: string): Promise<PolicyRecord | undefined>;
  put(kind: PolicyKind, id: string, text: string): Promise<void>;
  delete(kind: PolicyKind, id: string): Promise<boolean>;
  /** Sorted by id; without the policy text (`GET /kbs/v0/resource-policy` returns ids only, §1.1). */
  list(kind: PolicyKind): Promise<PolicyInfo[]>;
}

// ---------------------------------------------------------------------------------------------------------
// Reference values — RVPS (specs/kbs-protocol.md §4)

export interface ReferenceValueRecord {
  /** Opaque id, may contain `/` (e.g. `rvps:///ns/name:tag`). */
  name: string;
  /**
   * The stored JSON value exactly as registered: conventionally an array of acceptable values, but scalars are
   * legal and the default SNP policy needs them (§4 `sample` extractor).
   */
  value: JsonValue;
  /** RVPS records carry an expiration (now + 12 months for `sample`); Trustee does not enforce it on read. */
  expiresAt?: Date;
  updatedAt: Date;
  /**
   * Where the value came from, as the KBS stamped it at registration (server/reference-values.ts): the
   * algorithm, parameters and input digests (or the signer and statement digest of an imported statement), who
   * registered it, when, at which version, and an optional expiry. Absent for values written straight to the
   * store (development seeds) or before provenance was kept.
   */
  provenance?: JsonValue;
}

export interface ReferenceValueStore {
  get(name: string): Promise<ReferenceValueRecord | undefined>;
  /** Creates or overwrites (RVPS registration overwrites, §4); an overwrite without provenance clears it. */
  set(name: string, value: JsonValue, expiresAt?: Date, provenance?: JsonValue): Promise<void>;
  delete(name: string): Promise<boolean>;
  /** Sorted by name. */
  list(): Promise<ReferenceValueRecord[]>;
}

// ---------------------------------------------------------------------------------------------------------
// Workloads — registrations for per-workload resources and policies

export interface WorkloadRecord {
  id: string;
  /** The namespace its resources live under in the resources table. */
  namespace: string;
  tee: string;
  referenceValues: JsonValue;
  policy: string;
  /** 1 on creation, +1 on every update (optimistic concurrency, see `put`). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface WorkloadInput {
  id: string;
  namespace?: string;
  tee: string;
  referenceValues: JsonValue;
  policy: string;
}

export interface WorkloadStore {
  get(id: string): Promise<WorkloadRecord | undefined>;
  /**
   * Creates or updates the workload and returns the stored record. With `expectedVersion` the write only
   * happens when the stored version equals it (0 = must not exist yet); otherwise `STORE_CONFLICT` (conflict).
   */
  put(workload: WorkloadInput, expectedVersion?: number): Promise<WorkloadRecord>;
  /** Deletes the registration only; resources under its namespace are left to the caller. */
  delete(id: string): Promise<boolean>;
  /** Sorted by id; all namespaces unless one is given. */
  list(namespace?: string): Promise<WorkloadRecord[]>;
  /** The same one bounded page at a time, sorted by id in UTF-8 byte order (keyset paging as `resources.page`). */
  page(namespace?: string, page?: PageRequest): Promise<Page<WorkloadRecord>>;
}

// ---------------------------------------------------------------------------------------------------------
// Audit log

export interface AuditEventInput {
  /** Defaults to now. */
  time?: Date;
  /** What happened, e.g. `kbs.auth`, `kbs.attest`, `kbs.resource.get`, `admin.resource.put`. */
  kind: string;
  /** What it happened to: a session id, a resource path, a policy id. Never a secret. */
  subject: string;
  /** e.g. `ok`, `denied`, `error`. */
  outcome: string;
  /** Structured, secret-free detail. */
  detail?: JsonValue;
}

export interface AuditEvent {
  /** Increasing in insertion order. */
  id: number;
  time: Date;
  kind: string;
  subject: string;
  outcome: string;
  detail: JsonValue | null;
}

/** An event of a chain (`AuditLog.appendChain`); its detail is JSON text the caller serialised once. */
export interface ChainedEventInput {
  time: Date;
  subject: string;
  outcome: string;
  /** JSON text of at most `LIMITS.auditDetailChars` characters. */
  detail: string;
  /**
   * What the next append's `link` gets for this event, instead of its parsed detail, while it is the newest
   * event of the chain and was appended by this store: the part of the detail the links read (for a hash
   * chain, the digest), so an append does not read and parse the whole previous event. After another store
   * (process, replica) appended, `link` gets the detail read from the database. Only the last event's counts.
   */
  head?: JsonValue;
}

/** Server-state entries a chain append makes sure exist (`AuditLog.appendChain`). */
export interface ChainKeep {
  /** Keys (of the key-value area) that must hold a value once the events are committed. */
  keys: readonly string[];
  /** The value to store under a key that holds none; called under the lock, so it must not await. */
  value(key: string): Uint8Array;
}

/** Which events of a chain name which server-state keys (`KvStore.deleteUnchained`). */
export interface ChainNames {
  kind: string;
  /** Only events with an id above this one are read. */
  afterId: number;
  /** The keys an event's detail names; must not await. */
  named(detail: JsonValue | null): Iterable<string>;
}

export interface AuditQuery {
  /** At most this many events (default 100, at most 10 000). */
  limit?: number;
  kind?: string;
  subject?: string;
  outcome?: string;
  /** Events at or after this time. */
  since?: Date;
  /** Events with an id below this one (paging backwards). */
  beforeId?: number;
}

export interface AuditLog {
  /**
   * Appends an event. Events of the attestation protocol (kind `kbs.*`) are committed without a disk sync,
   * like sessions and nonces (store/hot-path.ts): a power loss may drop the newest of them. Every other kind
   * (admin operations) is synced before this resolves.
   */
  append(event: AuditEventInput): Promise<AuditEvent>;
  /**
   * Appends events that extend a hash chain of `kind` (a protocol kind, `kbs.*`, committed like `append`
   * commits those). The database's write lock is held from reading the chain's head to the commit (SQLite
   * `BEGIN IMMEDIATE`, PostgreSQL an advisory transaction lock), so processes and replicas appending to one
   * database never link two events to the same head. `link` gets the detail of the newest event of `kind`
   * (null when there is none), or the `head` its appender gave for it, and returns the events to append after
   * it, in order; it must not await.
   * Returns their ids, in order. Each key of `keep` that holds no server state gets `keep.value(key)` in the
   * same transaction (when any event is appended), so events naming server state never commit without it,
   * whatever `kv.deleteUnchained` deleted before.
   */
  appendChain(kind: string, link: (head: JsonValue | null) => ChainedEventInput[], keep?: ChainKeep): Promise<number[]>;
  /** Newest first. */
  list(query?: AuditQuery): Promise<AuditEvent[]>;
  /** Deletes events older than `before` (retention) and returns how many. */
  prune(before: Date): Promise<number>;
  /**
   * Retention by age and by count: deletes events older than `olderThan` and every event but the newest
   * `keepNewest`, at most `batchRows` rows per statement so a long backlog never holds the database
   * (or, on SQLite, the event loop) for long. Returns how many were deleted.
   */
  retain(policy: AuditRetention): Promise<number>;
}

export interface AuditRetention {
  olderThan?: Date;
  keepNewest?: number;
  /** Rows per delete statement; default `AUDIT_PRUNE_BATCH`. */
  batchRows?: number;
}

/** Rows one retention statement deletes at most. */
export const AUDIT_PRUNE_BATCH = 2000;

// ---------------------------------------------------------------------------------------------------------
// Key-value server state (encrypted with the KEK)

export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  /**
   * Stores `value` unless the key already holds one, and returns the value now stored — so replicas starting
   * together agree on one generated signing key.
   */
  putIfAbsent(key: string, value: Uint8Array): Promise<Uint8Array>;
  delete(key: string): Promise<boolean>;
  /**
   * Deletes those of `keys` that no event of chain `chain.kind` with an id above `chain.afterId` names, under
   * the lock chain appends take (`AuditLog.appendChain`): an append naming one of them either committed
   * before the events are read here, or commits after the delete and writes it again through its `keep`.
   * Returns the keys deleted.
   */
  deleteUnchained(keys: readonly string[], chain: ChainNames): Promise<string[]>;
  /** The keys that start with `prefix` (a non-empty string), sorted in code-unit order; never values. */
  keys(prefix: string): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------------------

export interface RotateResult {
  /** How many sealed rows were re-encrypted. */
  resources: number;
  sessions: number;
  kv: number;
  /** Fingerprint of the new key. */
  fingerprint: string;
}

export interface SweepResult {
  sessions: number;
  nonces: number;
}

/** The record stores as seen inside one transaction (see `Store.transaction`). */
export type StoreTransaction = Pick<Store, 'backend' | 'resources' | 'policies' | 'referenceValues' | 'workloads' | 'audit' | 'kv'>;

/**
 * Announcements of writes to policies and reference values made by any process on the same database, so a
 * process may keep them cached between writes (read-cache.ts).
 */
export interface ChangeFeed {
  /**
   * Calls `onChange` after every announced write with the table written (`policies`, `reference_values`,
   * `resources`, `sessions` for deletions), and with no table whenever announcements may have been missed.
   */
  subscribe(onChange: (table?: string) => void): () => void;
  /** False while announcements may be missed (the listening connection is down): nothing may be cached then. */
  readonly live: boolean;
}

export interface Store {
  /** `sqlite` or `postgres`. */
  readonly backend: 'sqlite' | 'postgres';
  /** Present where other processes may write the same database and their writes are announced (PostgreSQL). */
  readonly changes?: ChangeFeed;
  readonly resources: ResourceStore;
  readonly sessions: SessionStore;
  readonly nonces: NonceStore;
  readonly policies: PolicyStore;
  readonly referenceValues: ReferenceValueStore;
  readonly workloads: WorkloadStore;
  readonly audit: AuditLog;
  readonly kv: KvStore;
  /**
   * Runs `fn` in one database transaction: every write made through `tx` is committed together when `fn`
   * resolves, or none is (`fn` throws, the process dies). Only `tx` may be used inside `fn` — the embedded
   * backend has one connection, which the transaction holds until it ends. Keep `fn` short: other requests
   * wait for it.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** Deletes sessions and nonces that expired at or before `now` (default: the clock); Trustee sweeps every 60 s. */
  sweepExpired(now?: Date): Promise<SweepResult>;
  /**
   * Gives the space of deleted rows back to the file system where the database leaves that to its user.
   * SQLite: an incremental vacuum, then a WAL checkpoint that truncates the WAL file (a store made before
   * incremental vacuum was enabled is converted once, by a full VACUUM). PostgreSQL: nothing, autovacuum
   * reuses the space.
   */
  reclaimSpace(): Promise<void>;
  /**
   * Re-encrypts every sealed value (resources, sessions, kv) under a new key-encryption key in one
   * transaction and switches this instance to it. Every other instance on the same database must be stopped
   * first and reopened with the new key afterwards (with the old key they fail with `STORE_KEK_MISMATCH`).
   */
  rotateKek(newKek: KekSource): Promise<RotateResult>;
  /** Releases the database; later calls fail with `STORE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/** Where the key-encryption key comes from. Raw bytes must be 32 bytes; files and env vars hold 64 hex chars or base64. */
export type KekSource = Uint8Array | { file: string } | { env: string };

/** Size bounds enforced on input (a `limit` CocoError beyond them). */
export const LIMITS = {
  resourceBytes: 16 * 1024 * 1024,
  kvBytes: 1024 * 1024,
  policyChars: 1024 * 1024,
  jsonChars: 1024 * 1024,
  idChars: 512,
  auditDetailChars: 64 * 1024,
} as const;
