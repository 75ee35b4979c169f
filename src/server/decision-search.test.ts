/**
 * The launch-parameter search of a decision read (decision-search.ts), from the search states a registration
 * from artifacts keeps in its provenance: on a workload registration and on an RVPS record, stored on SQLite
 * and on PostgreSQL; one search at a time, cached, time-capped; malformed or stale states explain nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoError } from '../errors.js';
import { envelope, parseRegistrationBody } from '../attestation/workload.js';
import { toHex } from '../formats/bytes.js';
import { snpReferenceValuesFromArtifacts } from '../measure/from-artifacts.js';
import { snpLaunchDigest } from '../measure/snp-launch/index.js';
import { openPostgresStore } from '../store/postgres.js';
import { openSqliteStore } from '../store/sqlite.js';
import type { JsonValue, Store } from '../store/store.js';
import { postgresForFile } from '../test-support/postgres.js';
import { readVector, readVectorJson } from '../test-support/vectors.js';
import type { Decision } from './decisions.js';
import { DecisionSearch, decisionParameterSearch } from './decision-search.js';
import { explainMismatches, explainReferenceValue, parseReferenceValueMessage, referenceValueNote } from './reference-values.js';

const OVMF = readVector('snp', 'ovmf', 'OVMF.fd');
const S04 = readVectorJson<{ cases: { id: string; expected: string }[] }>('snp', 'measure-cases.json').cases.find((c) => c.id === 's04-debian-4-milan-gf21')!.expected;
const REG = { ovmf: OVMF, vcpus: 4, vcpuType: 'EPYC-Milan', guestFeatures: 0x21n };
const computed = snpReferenceValuesFromArtifacts(REG);
/** The provenance as a registration stores it (JSON, stamped). */
const PROVENANCE = JSON.parse(JSON.stringify({ ...computed.provenance.measurement, registered_by: 'role=admin', registered_at: '2026-12-01T00:00:00.000Z', version: 1 })) as Record<string, JsonValue>;
const TWO = toHex(snpLaunchDigest({ ...REG, vcpus: 2 }));
const GCE = toHex(snpLaunchDigest({ ...REG, vmm: 'gce' }));
const HINT = { hint: 'matches with --vcpus 2; registered with 4', flag: '--vcpus', registered: '4', reported: '2' };

let nextId = 1;
function decision(d: Partial<Decision>): Decision {
  return { id: nextId++, time: new Date().toISOString(), v: 1, type: 'release', client: '127.0.0.1', tee: 'snp', verdict: 'deny', prev: '0'.repeat(64), digest: '0'.repeat(64), ...d };
}

async function searchesFromStore(store: Store): Promise<void> {
  assert.equal(computed.values.measurement, S04);
  // A workload registration and an RVPS record, each with the states, written and read back by the store.
  const spec = { referenceValues: { measurement: S04 }, identify: ['init_data' as const], dialect: 'native' as const, provenance: { measurement: PROVENANCE as JsonValue } };
  const wl = await store.workloads.put({ id: `wl-search-${nextId}`, namespace: 'tenant-s', tee: 'snp', referenceValues: envelope(spec), policy: 'package workload\n\ndefault allow := false\n' }, 0);
  await store.referenceValues.set('snp_launch_measurement', [S04], new Date(Date.now() + 86_400_000), PROVENANCE as JsonValue);
  const rv = (await store.referenceValues.get('snp_launch_measurement'))!;
  assert.deepEqual(rv.provenance, PROVENANCE);

  const search = new DecisionSearch();
  // The workload door's denial, in the words the KBS records.
  const why = explainReferenceValue('measurement', S04, PROVENANCE, { tee: 'snp', claims: { measurement: TWO } }, TWO)!;
  assert.ok(!why.includes('searchStates') && why.includes(`reported ${TWO}`), why);
  const wd = decision({ workload: wl.id, reference_values: { [`workload/${wl.id}`]: `version ${wl.version}, updated ${wl.updatedAt.toISOString()}` }, explanations: { measurement: why } });
  assert.deepEqual(await decisionParameterSearch(store, search, wd), { measurement: HINT });
  // Read again: from the cache.
  const runs = search.runs;
  assert.deepEqual(await decisionParameterSearch(store, search, wd), { measurement: HINT });
  assert.equal(search.runs, runs);

  // The RVPS door: the attestation records the mismatch of a consulted value (its token is issued; the release is denied later).
  const explanations = explainMismatches('snp', {}, [rv], { measurement: GCE });
  const ad = decision({ type: 'attestation', verdict: 'allow', reference_values: { snp_launch_measurement: referenceValueNote(rv) }, explanations });
  assert.deepEqual(await decisionParameterSearch(store, search, ad), { snp_launch_measurement: { hint: 'matches with --vmm-type gce; registered with QEMU', flag: '--vmm-type', registered: 'QEMU', reported: 'gce' } });

  // Registered again since: the decision compared another version, so nothing is searched.
  await store.referenceValues.set('snp_launch_measurement', [S04], undefined, { ...PROVENANCE, version: 2 });
  assert.match((await decisionParameterSearch(store, search, ad))!.snp_launch_measurement!.note!, /at version 2 now, the decision compared version 1: no search possible/);
  // States that a store holds malformed (written around the API's check): no search possible, no crash.
  const states = PROVENANCE.parameters as Record<string, JsonValue>;
  const digests = (states.searchStates as { digests: Record<string, string> }).digests;
  for (const [bad, why] of [
    [{ ...(states.searchStates as object), digests: { ...digests, QEMU: digests.QEMU!.slice(0, 90) } }, /must be 96 lower-case hex digits/],
    [{ ...(states.searchStates as object), digests: { ...digests, QEMU: 'zz'.repeat(48) } }, /must be 96 lower-case hex digits/],
    [{ ...(states.searchStates as object), digests: { ...digests, xen: digests.QEMU } }, /unknown state "xen"/],
    [{ ...(states.searchStates as object), resetEip: 'x'.repeat(100_000) }, /"resetEip" must be an integer/],
    ['states', /must be an object/],
  ] as const) {
    await store.referenceValues.set('snp_launch_measurement', [S04], undefined, { ...PROVENANCE, parameters: { ...states, searchStates: bad as JsonValue }, version: 3 });
    const d = decision({ reference_values: { snp_launch_measurement: 'updated x, version 3' }, explanations });
    const note = (await decisionParameterSearch(store, search, d))!.snp_launch_measurement!.note!;
    assert.match(note, /^no search possible: search states: /);
    assert.match(note, why);
  }
  // A registration without states (from hex values): the sentence names the operator's command instead.
  const { searchStates: _s, ...plain } = states;
  await store.referenceValues.set('snp_launch_measurement', [S04], undefined, { ...PROVENANCE, parameters: plain, version: 4 });
  const old = explainMismatches('snp', {}, [(await store.referenceValues.get('snp_launch_measurement'))!], { measurement: GCE });
  assert.match(old.snp_launch_measurement!, /explain with: cocokit kbs workload explain --from-artifacts … --reported /);
  const od = decision({ reference_values: { snp_launch_measurement: 'updated x, version 4' }, explanations: old });
  assert.match((await decisionParameterSearch(store, search, od))!.snp_launch_measurement!.note!, /keeps no search states/);
  // Gone, or never an SNP search: nothing to run.
  await store.referenceValues.delete('snp_launch_measurement');
  assert.match((await decisionParameterSearch(store, search, od))!.snp_launch_measurement!.note!, /no longer registered/);
  assert.equal(await decisionParameterSearch(store, search, decision({ explanations: { tpm_pcr11: 'PCR11 event 2 differs' } })), undefined);
  assert.equal(await decisionParameterSearch(store, search, decision({})), undefined);
  const gone = decision({ workload: 'no-such-workload', explanations: { measurement: why } });
  assert.match((await decisionParameterSearch(store, search, gone))!.measurement!.note!, /no longer registered/);
}

test('a decision read names the parameter change from the states a registration keeps, on SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-search-'));
  const store = await openSqliteStore({ dataDir: dir });
  try {
    await searchesFromStore(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const pg = postgresForFile();

test('a decision read names the parameter change from the states a registration keeps, on PostgreSQL', { skip: pg.skip, timeout: 120_000 }, async () => {
  const store = await openPostgresStore({ connectionString: await pg.cluster().createSchema('decision_search'), kek: new Uint8Array(32).fill(7) });
  try {
    await searchesFromStore(store);
  } finally {
    await store.close();
  }
});

test('searches run one at a time, a crowd is told to come back, and a search out of time is not cached', async () => {
  const params = PROVENANCE.parameters;
  const search = new DecisionSearch({ maxWaiting: 2 });
  const reported = Array.from({ length: 5 }, (_, i) => toHex(snpLaunchDigest({ ...REG, vcpus: i + 1 })));
  const out = await Promise.all(reported.map((r) => search.search(params, r)));
  assert.equal(out.filter((o) => o.hint !== undefined).length, 2);
  assert.equal(out.filter((o) => /busy/.test(o.note ?? '')).length, 3);
  assert.equal(search.runs, 2);
  // Every waiting search finished: the next ones run.
  assert.equal((await search.search(params, reported[4]!)).hint, 'matches with --vcpus 5; registered with 4');
  const late = new DecisionSearch({ deadlineMs: -1 });
  const nowhere = 'ab'.repeat(48);
  assert.match((await late.search(params, nowhere)).note!, /stopped at its time limit after \d+ candidates/);
  assert.match((await late.search(params, nowhere)).note!, /stopped at its time limit/);
  assert.equal(late.runs, 2);
  // The cache is bounded.
  const small = new DecisionSearch({ cacheSize: 1 });
  await small.search(params, reported[0]!);
  await small.search(params, reported[1]!);
  await small.search(params, reported[0]!);
  assert.equal(small.runs, 3);
});

test('registrations refuse malformed search states with the field named', () => {
  const states = (PROVENANCE.parameters as Record<string, JsonValue>).searchStates as { resetEip: number; digests: Record<string, string> };
  const badParams = { ...(PROVENANCE.parameters as object), searchStates: { ...states, digests: { ...states.digests, gce: 'ab' } } };
  const entry = { algorithm: 'snp-launch-digest', parameters: badParams, inputs: computed.provenance.measurement.inputs };
  const payload = Buffer.from(JSON.stringify({ snp_launch_measurement: [S04] })).toString('base64');
  assert.throws(() => parseReferenceValueMessage({ version: '0.1.0', type: 'sample', payload, provenance: { snp_launch_measurement: entry } }), (e: unknown) => e instanceof CocoError && e.code === 'KBS_RVPS_PROVENANCE' && /search states: the state gce must be 96 lower-case hex digits/.test(e.message));
  assert.throws(() => parseRegistrationBody({ tee: 'snp', reference_values: { measurement: S04 }, resources: { k: 'v' }, provenance: { measurement: entry } }, 'create'), (e: unknown) => e instanceof CocoError && /provenance of measurement: search states: the state gce/.test(e.message));
  // The states as computed are accepted by both.
  const good = { algorithm: 'snp-launch-digest', parameters: PROVENANCE.parameters, inputs: computed.provenance.measurement.inputs };
  assert.equal(parseReferenceValueMessage({ version: '0.1.0', type: 'sample', payload, provenance: { snp_launch_measurement: good } }).provenance.snp_launch_measurement!.algorithm, 'snp-launch-digest');
  assert.ok(parseRegistrationBody({ tee: 'snp', reference_values: { measurement: S04 }, resources: { k: 'v' }, provenance: { measurement: good } }, 'create').provenance);
});
