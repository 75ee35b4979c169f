/**
 * Versions a decision record names by content hash, kept so the decision can be explained again later:
 *
 * - policy versions (`policy-version/<sha256 of the text>`), the deciding policy's text;
 * - reference-value set versions (`rv-set/<sha256 of the canonical JSON>`), every reference value an
 *   attestation policy could consult at that moment (name → value), so a re-run answers
 *   `query_reference_value` exactly as the request did.
 *
 * Both live in the store's key-value area, one row per distinct version whatever the number of decisions
 * naming it, written by the decision log's background batches (decisions.ts) in the transaction that appends
 * the records naming them, never on the request path.
 *
 * On the request path an attestation needs only the hash of the current set: `ReferenceValueSets` keeps the
 * set the attestation service reads together with its hash and canonical text, computed once per change of
 * the reference values (a write through this process, a write by any process announced by the store's change
 * feed, or an expiry coming due), when this process is the one writer of its store or hears of every other
 * writer's writes (PostgreSQL replicas). While the feed may miss announcements each attestation reads and
 * hashes the values.
 *
 * `pruneDecisionVersions` deletes the versions no retained record names and that are not current; it runs
 * after each pass of the audit log's retention (store/open.ts `startAuditRetention`).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { CocoError } from '../errors.js';
import type { ChangeFeed, JsonValue, ReferenceValueRecord, Store, StoreTransaction } from '../store/store.js';
import type { ReferenceValueSnapshot } from '../attestation/service.js';
import { DECISION_KIND, POLICY_VERSION_PREFIX, RV_SET_PREFIX, canonicalJson, decisionFromEvent, policyVersionKey, rvSetKey } from './decisions.js';
import { DEFAULT_ATTESTATION_POLICY_IDS, defaultAttestationPolicy } from '../policy/builtin.js';
import { provenanceExpiry, referenceValueSnapshot } from './reference-values.js';

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

/** A reference-value set as one version: its hash and the canonical JSON text the hash is over. */
export interface ReferenceValueSetVersion {
  hash: string;
  text: string;
}

/** The version of a set of reference values (name → value). */
export function referenceValueSetVersion(values: Record<string, unknown>): ReferenceValueSetVersion {
  const text = canonicalJson(values);
  return { hash: sha256(text), text };
}

/** What the store holds under a version's hash. */
export type KeptVersion = { state: 'kept'; text: string } | { state: 'missing' } | { state: 'altered' };

async function keptText(store: Pick<Store, 'kv'>, key: string, hash: string): Promise<KeptVersion> {
  if (!/^[0-9a-f]{64}$/.test(hash)) return { state: 'missing' };
  const bytes = await store.kv.get(key);
  if (bytes === undefined) return { state: 'missing' };
  const text = Buffer.from(bytes).toString('utf8');
  // The key is the content's digest: a value that does not hash to it is not that version.
  return sha256(text) === hash ? { state: 'kept', text } : { state: 'altered' };
}

/** The kept text of the policy version with SHA-256 `hash`. */
export function keptPolicyVersion(store: Pick<Store, 'kv'>, hash: string): Promise<KeptVersion> {
  return keptText(store, policyVersionKey(hash), hash);
}

/** The kept reference-value set with hash `hash`, as name → value. */
export async function keptReferenceValueSet(store: Pick<Store, 'kv'>, hash: string): Promise<{ state: 'kept'; values: Record<string, JsonValue> } | { state: 'missing' } | { state: 'altered' }> {
  const k = await keptText(store, rvSetKey(hash), hash);
  if (k.state !== 'kept') return k;
  let v: JsonValue;
  try {
    v = JSON.parse(k.text) as JsonValue;
  } catch {
    return { state: 'altered' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { state: 'altered' };
  return { state: 'kept', values: v };
}

/** An attestation's reference values, with the version of the set they form. */
export interface VersionedSnapshot extends ReferenceValueSnapshot {
  version: ReferenceValueSetVersion;
}

export interface ReferenceValueSetsOptions {
  clock?: () => Date;
  /** Keep the set between attestations: only for the one writer of its store (see the module comment). */
  cache: boolean;
  /**
   * The store's announcements of every process's writes: with it the set is kept while the feed is live and
   * dropped on every announced write of the reference values (and whenever announcements may have been missed).
   */
  changes?: ChangeFeed;
}

/**
 * The reference values an attestation reads, with the version of that set. With `cache` (or a live change
 * feed), the snapshot is computed once and served until a reference value is written through a store `track`
 * returned (or by any process, as the feed announces) or the earliest expiry among the values comes due; a generation counter, moved at the start and end of every write,
 * keeps a read that raced with a write from being kept.
 */
export class ReferenceValueSets {
  readonly #clock: () => Date;
  readonly #cache: boolean;
  readonly #changes: ChangeFeed | undefined;
  #source: Pick<Store, 'referenceValues'> | undefined;
  #current: { snap: VersionedSnapshot; until: number } | undefined;
  #generation = 0;

  constructor(o: ReferenceValueSetsOptions) {
    this.#clock = o.clock ?? (() => new Date());
    this.#cache = o.cache;
    this.#changes = o.changes;
    o.changes?.subscribe((table) => {
      if (table === undefined || table === 'reference_values') this.invalidate();
    });
  }

  /** Whether a set read now may be kept: this process is the one writer, or it hears of every write. */
  #cacheable(): boolean {
    return this.#cache || this.#changes?.live === true;
  }

  /** Drops the kept set; the next attestation reads the values again. */
  invalidate(): void {
    this.#generation++;
    this.#current = undefined;
  }

  /**
   * `store` with its reference-value writes (and transactions, and key rotation) dropping the kept set; the
   * set is read from it.
   */
  track(store: Store): Store {
    this.#source = store;
    const writing = async <T>(fn: () => Promise<T>): Promise<T> => {
      this.invalidate();
      try {
        return await fn();
      } finally {
        this.invalidate();
      }
    };
    const rv = store.referenceValues;
    const rvStore: Store['referenceValues'] = {
      get: (name) => rv.get(name),
      list: () => rv.list(),
      set: (name, value, exp, prov) => writing(() => rv.set(name, value, exp, prov)),
      delete: (name) => writing(() => rv.delete(name)),
    };
    return new Proxy(store, {
      get(t, prop) {
        if (prop === 'referenceValues') return rvStore;
        if (prop === 'transaction') return <T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> => writing(() => t.transaction(fn));
        const v: unknown = Reflect.get(t, prop, t);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  }

  /** The values an attestation may consult now, those expired, and the version of the set. */
  async snapshot(): Promise<VersionedSnapshot> {
    const now = this.#clock().getTime();
    const c = this.#current;
    if (c && now < c.until && this.#cacheable()) return c.snap;
    if (!this.#source) throw new CocoError('KBS_INTERNAL', 'reference value sets: no store to read from', { kind: 'internal' });
    const g = this.#generation;
    const records = await this.#source.referenceValues.list();
    const { values, expired } = referenceValueSnapshot(records, new Date(now));
    const snap: VersionedSnapshot = { values, expired, version: referenceValueSetVersion(values) };
    if (this.#cacheable() && g === this.#generation) this.#current = { snap, until: nextExpiry(records, now) };
    return snap;
  }
}

/** The earliest expiry after `now` among the records (Infinity when none expires). */
function nextExpiry(records: ReferenceValueRecord[], now: number): number {
  let until = Infinity;
  for (const r of records) {
    const t = provenanceExpiry(r)?.getTime();
    if (t !== undefined && t > now && t < until) until = t;
  }
  return until;
}

/** Records read per query while collecting the versions retained records name. */
const SCAN_PAGE = 1000;

/** The version keys a decision record's body names. */
function namesIn(detail: JsonValue | null): string[] {
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) return [];
  const out: string[] = [];
  if (typeof detail.policy_hash === 'string') out.push(policyVersionKey(detail.policy_hash));
  if (typeof detail.rv_set_hash === 'string') out.push(rvSetKey(detail.rv_set_hash));
  const ap = detail.appraisal_policies;
  if (ap !== null && typeof ap === 'object' && !Array.isArray(ap)) {
    for (const p of Object.values(ap)) if (p !== null && typeof p === 'object' && !Array.isArray(p) && typeof p.hash === 'string') out.push(policyVersionKey(p.hash));
  }
  return out;
}

/** The policy and reference-value set hashes the decision records name, and the id of the newest record. */
async function namedVersions(store: Store): Promise<{ names: Set<string>; head: number }> {
  const names = new Set<string>();
  let head = 0;
  let beforeId: number | undefined;
  for (;;) {
    const page = await store.audit.list({ kind: DECISION_KIND, limit: SCAN_PAGE, ...(beforeId === undefined ? {} : { beforeId }) });
    for (const ev of page) {
      head = Math.max(head, ev.id);
      if (decisionFromEvent(ev)) for (const k of namesIn(ev.detail)) names.add(k);
    }
    if (page.length < SCAN_PAGE) return { names, head };
    beforeId = page[page.length - 1].id;
    // The whole log is read after each prune: requests are served between pages (a SQLite store answers each
    // page within the turn, so without this the scan of a full log held the event loop for a second or more).
    await nextTurn();
  }
}

export interface PruneHooks {
  /** Called with the keys about to be deleted, after every read of the log that chose them (tests interleave here). */
  beforeDelete?: (doomed: readonly string[]) => Promise<void>;
}

export interface PruneVersionsResult {
  policies: number;
  referenceValueSets: number;
  /** The keys deleted. */
  keys: string[];
}

/**
 * Deletes the kept policy versions and reference-value sets that no decision record still in the log names
 * and that are not current (a stored policy's text, the current reference-value set). The delete is ordered
 * against the decision log's appends by the chain's lock (`KvStore.deleteUnchained`): the records appended
 * since the log was read are read again under it and the versions they name stay, and a batch appended after
 * the delete writes the versions its records name back in its own transaction (decisions.ts). So a record's
 * versions are there as long as the record is, on one store or several processes sharing one.
 */
export async function pruneDecisionVersions(
  store: Store,
  current: { referenceValueSet?: () => Promise<string> } = {},
  hooks: PruneHooks = {},
): Promise<PruneVersionsResult> {
  const kept = [...(await store.kv.keys(POLICY_VERSION_PREFIX)), ...(await store.kv.keys(RV_SET_PREFIX))];
  if (kept.length === 0) return { policies: 0, referenceValueSets: 0, keys: [] };
  const { names, head } = await namedVersions(store);
  // Current: every stored policy, every registered workload's policy, the built-in attestation policies.
  for (const kind of ['attestation', 'resource', 'workload'] as const) {
    for (const info of await store.policies.list(kind)) {
      const p = await store.policies.get(kind, info.id);
      if (p) names.add(policyVersionKey(sha256(p.text)));
    }
  }
  for (const w of await store.workloads.list()) names.add(policyVersionKey(sha256(w.policy)));
  for (const id of DEFAULT_ATTESTATION_POLICY_IDS) {
    const text = defaultAttestationPolicy(id);
    if (text !== undefined) names.add(policyVersionKey(sha256(text)));
  }
  if (current.referenceValueSet) names.add(rvSetKey(await current.referenceValueSet()));
  const doomed = kept.filter((k) => !names.has(k));
  if (doomed.length === 0) return { policies: 0, referenceValueSets: 0, keys: [] };
  if (hooks.beforeDelete) await hooks.beforeDelete(doomed);
  // The records appended since the scan are read again under the lock chain appends take, and the versions
  // they name are kept; a record appended after the delete writes the versions it names back with itself.
  const deleted = new Set(await store.kv.deleteUnchained(doomed, { kind: DECISION_KIND, afterId: head, named: namesIn }));
  const out: PruneVersionsResult = { policies: 0, referenceValueSets: 0, keys: [] };
  for (const k of doomed.filter((d) => deleted.has(d))) {
    out.keys.push(k);
    if (k.startsWith(POLICY_VERSION_PREFIX)) out.policies++;
    else out.referenceValueSets++;
  }
  return out;
}
