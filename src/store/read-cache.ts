/**
 * Policies and reference values read once and then served from the process: every attestation reads its
 * attestation policy and the reference values, and every resource GET the resource policy, while they change
 * only by an admin write. Every write through this wrapper drops what it cached; writes by other processes
 * reach it through the store's change feed (`Store.changes`, PostgreSQL: every replica hears every write at
 * its commit), and while that feed is not live nothing is cached. A store with neither (SQLite) must have
 * this process as its one writer (the lone KBS of server/kbs.ts, whose sessions are in the process too).
 *
 * A generation counter, moved at the start and at the end of every write and at every announced change,
 * keeps a read that raced with a write from caching what it read before that write.
 */
import type { PolicyKind, PolicyRecord, ReferenceValueRecord, Store, StoreTransaction } from './store.js';
import { checkString, deepFreeze } from './validate.js';

/** The cache's copy of a record: its value and provenance cloned once and frozen. */
function holdRv(r: ReferenceValueRecord): ReferenceValueRecord {
  return deepFreeze(structuredClone(r));
}

/**
 * What a reader gets: the frozen value and provenance themselves (every attestation reads every value, and a
 * deep copy per read cost more than the read), in a record of its own with its own dates.
 */
function copyRv(r: ReferenceValueRecord): ReferenceValueRecord {
  const out: ReferenceValueRecord = { ...r, updatedAt: new Date(r.updatedAt) };
  if (r.expiresAt !== undefined) out.expiresAt = new Date(r.expiresAt);
  return out;
}

/**
 * Runs a write with what a cache holds dropped before it starts and again when it ends, so a read that
 * overlapped the write does not keep what it read before it.
 */
export function dropAround(drop: () => void): <T>(fn: () => Promise<T>) => Promise<T> {
  return async (fn) => {
    drop();
    try {
      return await fn();
    } finally {
      drop();
    }
  };
}

export function withReadCache(store: Store): Store {
  let generation = 0;
  const policies = new Map<string, PolicyRecord | undefined>();
  let rvs: Map<string, ReferenceValueRecord> | undefined;
  const drop = (): void => {
    generation++;
    policies.clear();
    rvs = undefined;
  };
  const writing = dropAround(drop);
  const target = store;
  const feed = store.changes;
  feed?.subscribe((table) => {
    if (table === undefined || table === 'policies' || table === 'reference_values') drop();
  });
  const cacheable = (): boolean => feed === undefined || feed.live;
  const policyStore: Store['policies'] = {
    async get(kind: PolicyKind, id: string) {
      const key = `${String(kind)}\u0000${String(id)}`;
      if (cacheable() && typeof kind === 'string' && typeof id === 'string' && policies.has(key)) {
        const p = policies.get(key);
        return p && { ...p, updatedAt: new Date(p.updatedAt) };
      }
      const g = generation;
      const p = await target.policies.get(kind, id);
      if (g === generation && cacheable() && typeof kind === 'string' && typeof id === 'string') policies.set(key, p && { ...p, updatedAt: new Date(p.updatedAt) });
      return p;
    },
    put: (kind, id, text) => writing(() => target.policies.put(kind, id, text)),
    delete: (kind, id) => writing(() => target.policies.delete(kind, id)),
    list: (kind) => target.policies.list(kind),
  };
  const allRvs = async (): Promise<Map<string, ReferenceValueRecord>> => {
    if (rvs && cacheable()) return rvs;
    const g = generation;
    const m = new Map((await target.referenceValues.list()).map((r) => [r.name, holdRv(r)]));
    if (g === generation && cacheable()) rvs = m;
    return m;
  };
  const rvStore: Store['referenceValues'] = {
    async get(name: string) {
      // The listing holds every record, so a name it lacks has none: policies consult names nobody registered
      // on every attestation, and each would otherwise be a query. Names no record could have are refused as
      // the store refuses them.
      const r = (await allRvs()).get(checkString(name, 'reference value name'));
      return r ? copyRv(r) : undefined;
    },
    set: (name, value, exp, prov) => writing(() => target.referenceValues.set(name, value, exp, prov)),
    delete: (name) => writing(() => target.referenceValues.delete(name)),
    list: async () => [...(await allRvs()).values()].map(copyRv),
  };
  return new Proxy(store, {
    get(t, prop) {
      if (prop === 'policies') return policyStore;
      if (prop === 'referenceValues') return rvStore;
      if (prop === 'transaction') return <T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> => writing(() => t.transaction(fn));
      if (prop === 'rotateKek') return (k: Parameters<Store['rotateKek']>[0]) => writing(() => t.rotateKek(k));
      const v: unknown = Reflect.get(t, prop, t);
      // The store's methods use private fields: call them on the store itself, not on the proxy.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
