/**
 * The launch-parameter search of a denied decision (measure/snp-search.ts): when a decision record says an
 * SNP measurement did not match a value registered from artifacts, and that value's provenance carries the
 * search states, reading the decision (`GET /kbs/v0/decisions/<id>`) names the single parameter change that
 * reproduces the reported measurement — "matches with --vcpus 2; registered with 4" — or says that none does.
 *
 * Off the request path: a denial only records the reported value; the search runs when the record is read,
 * one search at a time, time-capped and yielding to the event loop between candidate groups. Results are
 * cached per (registration provenance, reported measurement). The registration is read as it is now, and used
 * only when it is still the version the decision compared (a re-registration may have other parameters).
 */
import { createHash } from 'node:crypto';
import { specOf } from '../attestation/workload.js';
import { CocoError } from '../errors.js';
import { fromHex } from '../formats/bytes.js';
import { isRecord } from '../formats/json.js';
import { searchSnpStates, snpSearchInput } from '../measure/snp-search.js';
import type { Store } from '../store/store.js';
import { canonicalJson, type Decision } from './decisions.js';
import { reportedMeasurementOf } from './reference-values.js';

/** What the search says of one explained value: the change that reproduces it, or why there is none. */
export interface ParameterSearchOutcome {
  /** "matches with --vcpus 2; registered with 4". */
  hint?: string;
  flag?: string;
  registered?: string;
  reported?: string;
  /** Why no change is named: none reproduces it, no search possible, or the search ran out of time. */
  note?: string;
}

export interface DecisionSearchOptions {
  /** Time one search may take (default 2 s). */
  deadlineMs?: number;
  /** Results kept (default 256). */
  cacheSize?: number;
  /** Searches waiting beyond which a read is told to come back (default 4). */
  maxWaiting?: number;
}

const CANDIDATES = 'vCPU counts 1–64, vCPU types, VMM types, guest features, kernel hashes';

/** One search at a time, cached per (provenance parameters, reported measurement). */
export class DecisionSearch {
  private readonly cache = new Map<string, ParameterSearchOutcome>();
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  /** Searches actually run (not answered from the cache). */
  runs = 0;

  constructor(private readonly opts: DecisionSearchOptions = {}) {}

  /** The outcome of searching around `parameters` (an snp-launch-digest provenance's) for `reported` (hex). */
  async search(parameters: unknown, reported: string): Promise<ParameterSearchOutcome> {
    let input;
    try {
      input = snpSearchInput(parameters);
    } catch (e) {
      if (e instanceof CocoError) return { note: `no search possible: ${e.message}` };
      throw e;
    }
    if (input === undefined) {
      return { note: `the registration keeps no search states (registered from values, or before they were kept): explain with cocokit kbs workload explain --from-artifacts … --reported ${reported}` };
    }
    const key = `${createHash('sha256').update(canonicalJson(parameters)).digest('hex')}:${reported}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    if (this.waiting >= (this.opts.maxWaiting ?? 4)) return { note: 'the KBS is busy with other parameter searches: read the decision again shortly' };
    this.waiting++;
    const run = this.tail.then(async () => {
      this.runs++;
      return searchSnpStates(input, fromHex(reported), { deadlineMs: this.opts.deadlineMs ?? 2_000 });
    });
    this.tail = run.catch(() => undefined);
    let r;
    try {
      r = await run;
    } finally {
      this.waiting--;
    }
    if (!r.complete) return { note: `the search stopped at its time limit after ${r.tried} candidates` };
    const out: ParameterSearchOutcome = r.explanation
      ? { hint: r.explanation.hint, flag: r.explanation.flag, registered: r.explanation.registered, reported: r.explanation.reported }
      : { note: `no nearby launch parameter reproduces the reported measurement (${r.tried} candidates: ${CANDIDATES})` };
    this.cache.set(key, out);
    if (this.cache.size > (this.opts.cacheSize ?? 256)) this.cache.delete(this.cache.keys().next().value!);
    return out;
  }
}

/** The registration version a decision's reference-value note names ("version 3, updated …"). */
function versionOfNote(note: string | undefined): number | undefined {
  const m = note === undefined ? null : /(?:^|, )version (\d+)(?:,|$)/.exec(note);
  return m ? Number(m[1]) : undefined;
}

/** The provenance a decision compared `name` with, as registered now; a note when it is gone or changed. */
async function provenanceOf(store: Pick<Store, 'workloads' | 'referenceValues'>, d: Decision, name: string): Promise<{ provenance: unknown } | { note: string }> {
  if (d.workload !== undefined) {
    const rec = await store.workloads.get(d.workload);
    if (!rec) return { note: `workload ${d.workload} is no longer registered: no search possible` };
    const compared = versionOfNote(d.reference_values?.[`workload/${rec.id}`]);
    if (compared !== rec.version) return { note: `workload ${rec.id} is at version ${rec.version} now, the decision compared version ${compared ?? '?'}: no search possible` };
    try {
      return { provenance: specOf(rec).provenance?.[name] };
    } catch (e) {
      return { note: `no search possible: ${(e as Error).message}` };
    }
  }
  const rec = await store.referenceValues.get(name);
  if (!rec) return { note: `reference value ${name} is no longer registered: no search possible` };
  const compared = versionOfNote(d.reference_values?.[name]);
  const now = isRecord(rec.provenance) && typeof rec.provenance.version === 'number' ? rec.provenance.version : undefined;
  if (compared !== now) return { note: `reference value ${name} is at version ${now ?? '?'} now, the decision compared version ${compared ?? '?'}: no search possible` };
  return { provenance: rec.provenance };
}

/**
 * For each explanation of a decision that names a reported SNP measurement against a value computed by
 * `snp-launch-digest`, what the parameter search says; undefined when there is none to run.
 */
export async function decisionParameterSearch(store: Pick<Store, 'workloads' | 'referenceValues'>, search: DecisionSearch, d: Decision): Promise<Record<string, ParameterSearchOutcome> | undefined> {
  // An RVPS mismatch is recorded on an attestation that issued a token (the resource policy denies later).
  if (!d.explanations) return undefined;
  const out: Record<string, ParameterSearchOutcome> = {};
  for (const [name, text] of Object.entries(d.explanations).slice(0, 16)) {
    const reported = typeof text === 'string' ? reportedMeasurementOf(text) : undefined;
    if (reported === undefined || !text.includes(' computed by snp-launch-digest')) continue;
    const p = await provenanceOf(store, d, name);
    if ('note' in p) {
      out[name] = { note: p.note };
      continue;
    }
    if (!isRecord(p.provenance) || p.provenance.algorithm !== 'snp-launch-digest') {
      out[name] = { note: `${name} is no longer computed by snp-launch-digest: no search possible` };
      continue;
    }
    out[name] = await search.search(p.provenance.parameters, reported);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
