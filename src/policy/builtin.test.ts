import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { readVector, readVectorJson, vectorPath, REPO_ROOT } from '../test-support/vectors.js';
import { evaluateInitData } from '../attestation/init-data.js';
import { trustVectorFrom } from '../attestation/ear.js';
import { snpClaims } from '../tee/snp/claims.js';
import { parseReport, type SnpProduct } from '../tee/snp/format.js';
import { BUILTIN_RESOURCE_POLICIES, DEFAULT_ATTESTATION_POLICY_IDS, builtinPolicyFiles, builtinResourcePolicy, defaultAttestationPolicy } from './builtin.js';
import { RegoAttestationPolicy, RegoResourcePolicy } from './evaluators.js';

// cocokit's built-in policies are its own Rego; these tests run them beside Trustee's policy files over the
// claim sets in the vectors and generated ones, and require the same appraisal and the same decision.

const trustee = (...p: string[]) => readFileSync(vectorPath('rego', 'trustee', ...p), 'utf8');
const TRUSTEE_ATTESTATION: Record<string, string> = Object.fromEntries(DEFAULT_ATTESTATION_POLICY_IDS.map((id) => [id, trustee('as-ear-default', `ear_default_policy_${id.slice('default_'.length)}.rego`)]));
const TRUSTEE_RESOURCE: Record<string, string> = Object.fromEntries(BUILTIN_RESOURCE_POLICIES.map((n) => [n, trustee('kbs-resource-policy', `${n}.rego`)]));

type Outcome = { ok: true; trustClaims: unknown; extensions: unknown } | { ok: false };
const attestation = new RegoAttestationPolicy();

async function appraise(text: string, id: string, input: unknown, rvs: Record<string, unknown>): Promise<Outcome> {
  try {
    const out = await attestation.evaluate(text, id, input, (k) => (Object.hasOwn(rvs, k) ? rvs[k] : null));
    return { ok: true, trustClaims: out.trustClaims, extensions: out.extensions };
  } catch {
    // Both policies must then fail (e.g. two platform sections giving one claim different values).
    return { ok: false };
  }
}

async function assertSameAppraisal(id: string, input: unknown, rvs: Record<string, unknown>): Promise<Outcome> {
  const ours = await appraise(defaultAttestationPolicy(id)!, id, input, rvs);
  const theirs = await appraise(TRUSTEE_ATTESTATION[id]!, id, input, rvs);
  assert.deepEqual(ours, theirs, `${id} over ${JSON.stringify(input).slice(0, 300)} with ${JSON.stringify(rvs).slice(0, 300)}`);
  return ours;
}

// ---- claim sets from the vectors ----

const EAR = readVectorJson('trustee', 'generated', 'ear-token-synthetic.json');
const sampleClaims = EAR.claims.submods.cpu0['ear.veraison.annotated-evidence'];
const sgxClaims = readVectorJson('trustee', 'token', 'example.token.json').submods.cpu0['ear.veraison.annotated-evidence'];
const tdxQuoteClaims = readVectorJson('trustee', 'tdx', 'parse_tdx_claims_expected.json');
const eventLogs = readdirSync(vectorPath('trustee', 'eventlog'))
  .filter((n) => n.endsWith('_out.json'))
  .map((n) => readVectorJson('trustee', 'eventlog', n).uefi_event_logs as unknown[]);
const initDataClaims = evaluateInitData({ format: 'toml', body: readFileSync(vectorPath('trustee', 'initdata', 'init-data-with-policy.toml'), 'utf8') }).claims;
const snpReports = (readVectorJson<{ vectors: any[] }>('snp', 'reports', 'index.json').vectors as any[])
  .filter((v) => !v.negative)
  .map((v) => {
    const product = String(v.product).toLowerCase() as SnpProduct;
    return snpClaims(parseReport(new Uint8Array(readVector('snp', v.report)), { product }), product);
  });

const vectorClaimSets: { name: string; input: Record<string, unknown> }[] = [
  { name: 'sample (synthetic EAR)', input: sampleClaims },
  { name: 'sample with init-data claims', input: { ...sampleClaims, init_data_claims: initDataClaims } },
  { name: 'sgx (Trustee example token)', input: sgxClaims },
  { name: 'snp (keybroker claims, string-typed)', input: { snp: readVectorJson('keybroker', 'protocol', 'keybroker_claims_expected.json') } },
  ...snpReports.map((c, i) => ({ name: `snp report ${i}`, input: { snp: c, init_data_claims: initDataClaims } })),
  { name: 'tdx quote without event log', input: { tdx: tdxQuoteClaims } },
  ...eventLogs.map((logs, i) => ({ name: `tdx with event log ${i}`, input: { tdx: { ...tdxQuoteClaims, uefi_event_logs: logs } } })),
];

/** Every scalar in a claim set: the pool reference values are drawn from, so that some of them match. */
function leaves(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) v.forEach((x) => leaves(x, out));
  else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => leaves(x, out));
  else out.push(v);
  return out;
}

/** Reference values the CPU policy reads, each set to the claim it is compared with (a recognised TEE). */
function matchingReferenceValues(input: Record<string, any>): Record<string, unknown> {
  const rv: Record<string, unknown> = {};
  const list = (id: string, v: unknown) => {
    if (v !== undefined) rv[id] = [v];
  };
  const one = (id: string, v: unknown) => {
    if (v !== undefined) rv[id] = v;
  };
  const s = input.snp;
  if (s) {
    list('snp_launch_measurement', s.measurement);
    for (const [id, k] of [['snp_bootloader', 'bootloader'], ['snp_microcode', 'microcode'], ['snp_snp_svn', 'snp'], ['snp_tee_svn', 'tee']]) list(id!, s[`reported_tcb_${k}`]);
    one('snp_smt_enabled', s.platform_smt_enabled);
    one('snp_tsme_enabled', s.platform_tsme_enabled);
    one('snp_guest_abi_major', s.policy_abi_major);
    one('snp_guest_abi_minor', s.policy_abi_minor);
    one('snp_single_socket', s.policy_single_socket);
    one('snp_smt_allowed', s.policy_smt_allowed);
  }
  const t = input.tdx;
  if (t) {
    list('rtmr_1', t.quote?.body?.rtmr_1);
    list('rtmr_2', t.quote?.body?.rtmr_2);
    list('mr_td', t.quote?.body?.mr_td);
    list('xfam', t.quote?.body?.xfam);
    for (const e of (t.uefi_event_logs ?? []) as any[]) {
      if (e.type_name === 'EV_EFI_BOOT_SERVICES_APPLICATION' && e.details?.device_paths?.includes('File(kernel)')) one('tdvfkernel', e.digests?.[0]?.digest);
      if (e.type_name === 'EV_EVENT_TAG' && e.details?.string === 'LOADED_IMAGE::LoadOptions') one('tdvfkernelparams', e.digests?.[0]?.digest);
    }
  }
  if (input.sample) Object.assign(rv, { launch_digest: [input.sample.launch_digest], svn: [input.sample.svn], major_version: input.sample.platform_version?.major, minimum_minor_version: 0 });
  return rv;
}

test('every built-in policy file is listed, compiles, and is copied beside the compiled modules by the build', async () => {
  for (const id of DEFAULT_ATTESTATION_POLICY_IDS) await attestation.validate(defaultAttestationPolicy(id)!);
  for (const n of BUILTIN_RESOURCE_POLICIES) await new RegoResourcePolicy().validate(builtinResourcePolicy(n));
  assert.equal(defaultAttestationPolicy('no_such_policy'), undefined);
  const onDisk = ['attestation', 'resource'].flatMap((d) => readdirSync(join(REPO_ROOT, 'src', 'policy', d)).map((n) => `${d}/${n}`));
  assert.deepEqual(onDisk.sort(), builtinPolicyFiles().sort());
  const out = mkdtempSync(join(tmpdir(), 'cocokit-assets-'));
  try {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'copy-assets.mjs'), join(REPO_ROOT, 'src'), out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const f of builtinPolicyFiles()) assert.equal(readFileSync(join(out, 'policy', f), 'utf8'), readFileSync(join(REPO_ROOT, 'src', 'policy', f), 'utf8'), f);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the built-in policies are cocokit\'s own text, not Trustee\'s files', () => {
  for (const id of DEFAULT_ATTESTATION_POLICY_IDS) assert.notEqual(defaultAttestationPolicy(id), TRUSTEE_ATTESTATION[id]);
  for (const n of BUILTIN_RESOURCE_POLICIES) assert.notEqual(builtinResourcePolicy(n), TRUSTEE_RESOURCE[n]);
});

test('default attestation policies give Trustee\'s appraisal for every claim set in the vectors, with and without reference values', async () => {
  let recognised = 0;
  for (const { input } of vectorClaimSets) {
    const pool = leaves(input);
    const rvSets = [{}, matchingReferenceValues(input), Object.fromEntries(['mr_td', 'rtmr_1', 'svn', 'xfam'].map((k, i) => [k, pool.slice(i, i + 3)]))];
    for (const rvs of rvSets) {
      for (const id of DEFAULT_ATTESTATION_POLICY_IDS) {
        const out = await assertSameAppraisal(id, input, rvs);
        if (id === 'default_cpu' && out.ok && [3, 4].includes(trustVectorFrom(out.trustClaims, id).executables!)) recognised++;
      }
    }
  }
  // The matching reference values recognise the executables of the sample, the SNP reports and the TDX quotes
  // (event logs or not): the comparison covers recognised platforms, not only the defaults.
  assert.ok(recognised >= 2 + snpReports.length + 1 + eventLogs.length, `recognised executables: ${recognised}`);
});

test('default_cpu over the SNP report claims with matching reference values: approved executables, genuine hardware', async () => {
  const input = { snp: snpReports[0] };
  const out = await assertSameAppraisal('default_cpu', input, matchingReferenceValues(input));
  assert.ok(out.ok);
  const tv = trustVectorFrom(out.trustClaims, 'default_cpu');
  assert.equal(tv.executables, 3);
  assert.equal(tv.hardware, 2);
  assert.equal(tv.configuration, snpReports[0]!.policy_debug_allowed === false && snpReports[0]!.policy_migrate_ma === false ? 2 : 36);
});

// ---- generated claim sets ----

const scalar = fc.oneof(fc.boolean(), fc.constantFrom('good', 'valid', 'disabled', 'success', 'UpToDate', 'OutOfDate', '0', '1', '81000000', '939a7233f79c4ca9940a0db3957f0607', 'aa', 'bb'), fc.integer({ min: -2, max: 3 }), fc.constant(null));
/** Paths (under the platform key) the default policies read; generated claim sets set a random subset. */
const CPU_PATHS: Record<string, string[][]> = {
  sample: [['launch_digest'], ['svn'], ['platform_version', 'major'], ['platform_version', 'minor'], ['debug']],
  snp: ['measurement', 'reported_tcb_bootloader', 'reported_tcb_microcode', 'reported_tcb_snp', 'reported_tcb_tee', 'policy_debug_allowed', 'policy_migrate_ma', 'platform_smt_enabled', 'platform_tsme_enabled', 'policy_abi_major', 'policy_abi_minor', 'policy_single_socket', 'policy_smt_allowed'].map((k) => [k]),
  tdx: [['quote', 'body', 'rtmr_1'], ['quote', 'body', 'rtmr_2'], ['quote', 'body', 'mr_td'], ['quote', 'body', 'xfam'], ['quote', 'header', 'tee_type'], ['quote', 'header', 'vendor_id'], ['tcb_status'], ['collateral_expiration_status'], ['td_attributes', 'debug']],
  'az-snp-vtpm': ['measurement', 'reported_tcb_bootloader', 'reported_tcb_microcode', 'reported_tcb_snp', 'reported_tcb_tee', 'platform_smt_enabled', 'platform_tsme_enabled', 'policy_abi_major', 'policy_abi_minor', 'policy_single_socket', 'policy_smt_allowed'].map((k) => [k]).concat([['tpm', 'pcr11']]),
  'az-tdx-vtpm': [['tpm', 'pcr11'], ['quote', 'body', 'mr_td'], ['quote', 'body', 'xfam'], ['quote', 'header', 'tee_type'], ['quote', 'header', 'vendor_id'], ['tcb_status']],
  tpm: [['pcr11'], ['pcr08'], ['ak_public']],
  se: [['image_phkh'], ['attestation_phkh']],
};
const NVIDIA_FLAGS = ['gpu', 'switch'].flatMap((d) => [
  `x-nvidia-${d}-attestation-report-cert-chain-fwid-match`,
  `x-nvidia-${d}-attestation-report-parsed`,
  `x-nvidia-${d}-attestation-report-signature-verified`,
  `x-nvidia-${d}-arch-check`,
  ...['fetched', 'measurements-available', 'schema-validated', 'signature-verified', 'version-match'].flatMap((c) => [`x-nvidia-${d}-${d === 'gpu' ? 'vbios' : 'bios'}-rim-${c}`, `x-nvidia-gpu-driver-rim-${c}`]),
]);
const NVIDIA_CHAINS = ['gpu-attestation-report', 'gpu-vbios-rim', 'switch-attestation-report', 'switch-bios-rim'].map((c) => `x-nvidia-${c}-cert-chain`);

function setPath(obj: Record<string, any>, path: string[], v: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) o = (o[k] = o[k] !== null && typeof o[k] === 'object' ? o[k] : {});
  o[path[path.length - 1]!] = v;
}

const platformClaims = (name: string) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.tuple(fc.constantFrom(...CPU_PATHS[name]!), scalar), { maxLength: 14 }).map((sets) => {
      const o: Record<string, any> = {};
      for (const [p, v] of sets) setPath(o, p, v);
      return o as unknown;
    }) },
    { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.string({ maxLength: 3 }), fc.constant({})) },
  );
const tdxEvent = fc.record({
  type_name: fc.constantFrom('EV_EFI_BOOT_SERVICES_APPLICATION', 'EV_EVENT_TAG', 'EV_IPL'),
  details: fc.record({ device_paths: fc.array(fc.constantFrom('File(kernel)', 'File(initrd)'), { maxLength: 2 }), string: fc.constantFrom('LOADED_IMAGE::LoadOptions', 'x') }, { requiredKeys: [] }),
  digests: fc.array(fc.record({ digest: fc.constantFrom('aa', 'bb', 'cc') }), { maxLength: 2 }),
});
const container = fc.record({ OCI: fc.record({ Annotations: fc.record({ 'io.kubernetes.cri.image-name': fc.constantFrom('nginx', 'busybox') }, { requiredKeys: [] }), Process: fc.record({ User: fc.record({ UID: fc.integer({ min: 0, max: 3 }) }) }) }, { requiredKeys: [] }) });
const cpuClaimSet = fc
  .record(
    {
      platforms: fc.uniqueArray(fc.constantFrom(...Object.keys(CPU_PATHS)), { minLength: 0, maxLength: 2 }).chain((names) => fc.tuple(...names.map((n) => platformClaims(n).map((c) => [n, c] as const)))),
      events: fc.option(fc.array(tdxEvent, { maxLength: 4 }), { nil: undefined }),
      containers: fc.option(fc.array(container, { maxLength: 3 }), { nil: undefined }),
    },
    { requiredKeys: ['platforms'] },
  )
  .map(({ platforms, events, containers }) => {
    const input: Record<string, any> = Object.fromEntries(platforms);
    if (events && input.tdx && typeof input.tdx === 'object') input.tdx.uefi_event_logs = events;
    if (containers) input.init_data_claims = { agent_policy_claims: { containers } };
    return input;
  });
const deviceClaimSet = fc.record(
  {
    nvidia: fc.oneof(
      fc.record({
        flags: fc.subarray(NVIDIA_FLAGS),
        falseFlag: fc.option(fc.constantFrom(...NVIDIA_FLAGS), { nil: undefined }),
        chains: fc.array(fc.tuple(fc.constantFrom(...NVIDIA_CHAINS), fc.constantFrom('good', 'revoked'), fc.constantFrom('valid', 'expired')), { maxLength: 4 }),
        other: fc.array(fc.tuple(fc.constantFrom('secboot', 'dbgstat', 'measres', 'x-nvidia-gpu-vbios-version', 'x-nvidia-gpu-driver-version', 'x-nvidia-switch-bios-version'), scalar), { maxLength: 6 }),
      }).map(({ flags, falseFlag, chains, other }) => {
        const o: Record<string, unknown> = Object.fromEntries(flags.map((f) => [f, true]));
        if (falseFlag) o[falseFlag] = false;
        for (const [c, ocsp, status] of chains) o[c] = { 'x-nvidia-cert-ocsp-status': ocsp, 'x-nvidia-cert-status': status };
        for (const [k, v] of other) o[k] = k === 'dbgstat' && v === 'aa' ? 'disabled' : v;
        return o;
      }),
      fc.constantFrom(true, false, 'x'),
    ),
    sampledevice: fc.record({ svn: scalar }),
  },
  { requiredKeys: [] },
);
/**
 * Reference values over a small pool, so that generated claims sometimes match them. The pool leaves out the
 * PCR 8 ids (`tpm_pcr08`, `snp_pcr08`, `tdx_pcr08`): Trustee's policy has no PCR 8 rule, and cocokit's applies
 * one only when they are set, so the two agree exactly when they are unset (the PCR 8 rule is tested below).
 */
const referenceValues = fc.dictionary(
  fc.constantFrom('launch_digest', 'svn', 'major_version', 'minimum_minor_version', 'snp_launch_measurement', 'snp_bootloader', 'snp_microcode', 'snp_snp_svn', 'snp_tee_svn', 'snp_smt_enabled', 'snp_tsme_enabled', 'snp_guest_abi_major', 'snp_guest_abi_minor', 'snp_single_socket', 'snp_smt_allowed', 'rtmr_1', 'rtmr_2', 'tdvfkernel', 'tdvfkernelparams', 'mr_td', 'xfam', 'measurement', 'snp_pcr11', 'tcb_bootloader', 'tcb_microcode', 'tcb_snp', 'tcb_tee', 'smt_enabled', 'tsme_enabled', 'abi_major', 'abi_minor', 'single_socket', 'smt_allowed', 'tdx_pcr11', 'tpm_pcr11', 'trusted_aks', 'allowed_vbios_versions', 'allowed_driver_versions', 'allowed_switch_bios_versions'),
  fc.oneof({ weight: 3, arbitrary: fc.array(scalar, { maxLength: 3 }) }, scalar),
  { maxKeys: 20 },
);

test('default_cpu refuses a listed-but-different vTPM PCR 8 and affirms the listed one (tpm, az-snp-vtpm, az-tdx-vtpm)', async () => {
  const pcr8 = 'e6d4b396b6e3bcb6f3ccaaa18125301c6e63569ff5bcafd3245bedac465e2d39';
  const pcr11 = 'ab'.repeat(32);
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    ['tpm', { tpm: { pcr08: pcr8, pcr11, ak_public: 'AK' } }, { tpm_pcr11: [pcr11], trusted_aks: ['AK'] }, 'tpm_pcr08'],
    ['az-snp-vtpm', { 'az-snp-vtpm': { measurement: 'm', tpm: { pcr08: pcr8, pcr11 } } }, { measurement: ['m'], snp_pcr11: [pcr11] }, 'snp_pcr08'],
    ['az-tdx-vtpm', { 'az-tdx-vtpm': { tpm: { pcr08: pcr8, pcr11 } } }, { tdx_pcr11: [pcr11] }, 'tdx_pcr08'],
  ];
  for (const [name, input, rvs, id] of cases) {
    const executables = async (extra: Record<string, unknown>) => {
      const out = await appraise(defaultAttestationPolicy('default_cpu')!, 'default_cpu', input, { ...rvs, ...extra });
      assert.ok(out.ok, name);
      return trustVectorFrom(out.trustClaims, 'default_cpu').executables;
    };
    assert.equal(await executables({}), 3, `${name}: no PCR 8 listed`);
    assert.equal(await executables({ [id]: [pcr8] }), 3, `${name}: PCR 8 listed`);
    assert.equal(await executables({ [id]: ['00'.repeat(32)] }), 33, `${name}: another PCR 8 listed`);
    // Evidence without PCR 8 passes only while no PCR 8 is listed.
    const without = structuredClone(input) as Record<string, any>;
    delete (name === 'tpm' ? without.tpm : without[name].tpm).pcr08;
    const executablesWithout = async (extra: Record<string, unknown>) => {
      const out = await appraise(defaultAttestationPolicy('default_cpu')!, 'default_cpu', without, { ...rvs, ...extra });
      assert.ok(out.ok, name);
      return trustVectorFrom(out.trustClaims, 'default_cpu').executables;
    };
    assert.equal(await executablesWithout({}), 3, `${name}: no PCR 8 in the evidence, none listed`);
    assert.equal(await executablesWithout({ [id]: [pcr8] }), 33, `${name}: no PCR 8 in the evidence, one listed`);
    // PCR 11 still decides: the right PCR 8 does not make up for a wrong PCR 11.
    assert.equal(await executables({ [id]: [pcr8], [id.replace('08', '11')]: ['11'.repeat(32)] }), 33, `${name}: wrong PCR 11`);
  }
});

test('default attestation policies give Trustee\'s appraisal over generated claim sets and reference values', async () => {
  await fc.assert(
    fc.asyncProperty(cpuClaimSet, referenceValues, async (input, rvs) => {
      await assertSameAppraisal('default_cpu', input, rvs);
    }),
    { numRuns: 400 },
  );
  await fc.assert(
    fc.asyncProperty(deviceClaimSet, referenceValues, async (input, rvs) => {
      for (const id of ['default_gpu', 'default_switch', 'default_ppcie']) await assertSameAppraisal(id, input, rvs);
    }),
    { numRuns: 400 },
  );
});

// ---- resource policies ----

const STATUSES = ['none', 'affirming', 'warning', 'contraindicated'] as const;
const resources = new RegoResourcePolicy();
const tokenClaims = fc.record(
  {
    submods: fc.oneof(
      { weight: 9, arbitrary: fc.dictionary(fc.constantFrom('cpu0', 'cpu1', 'gpu0'), fc.record({ 'ear.status': fc.constantFrom(...STATUSES), 'ear.veraison.annotated-evidence': fc.dictionary(fc.constantFrom('sample', 'snp', 'tdx'), fc.oneof(fc.constant({}), fc.boolean())) }, { requiredKeys: [] }), { maxKeys: 3 }) },
      { weight: 1, arbitrary: fc.oneof(fc.constant('x'), fc.constant([]), fc.constant(null)) },
    ),
  },
  { requiredKeys: [] },
);
const requestData = fc.record({ plugin: fc.constantFrom('resource', 'sealed-secret', 'other'), 'resource-path': fc.constant(['default', 'key', '1']), query: fc.constant({}) });

function contraindicated(claims: any): boolean {
  const s = claims?.submods;
  return s !== null && typeof s === 'object' && Object.values(s).some((m: any) => m?.['ear.status'] === 'contraindicated');
}

test('resource policies decide as Trustee\'s over the vector tokens and generated ones; default differs only by refusing contraindicated', async () => {
  const { cases } = readVectorJson('rego', 'trustee', 'policy-engine-tests', 'cases.json');
  const vectorTokens = [EAR.claims, readVectorJson('trustee', 'token', 'example.token.json'), ...cases.map((c: any) => c.input)];
  const check = async (input: any, data: any) => {
    for (const n of BUILTIN_RESOURCE_POLICIES) {
      const ours = (await resources.evaluate(builtinResourcePolicy(n), input, data)).allow;
      const theirs = (await resources.evaluate(TRUSTEE_RESOURCE[n]!, input, data)).allow;
      if (n === 'default' && contraindicated(input)) assert.equal(ours, false, `default over a contraindicated token`);
      else assert.equal(ours, theirs, `${n} over ${JSON.stringify(input).slice(0, 300)} for ${JSON.stringify(data)}`);
    }
  };
  for (const t of vectorTokens) for (const plugin of ['resource', 'other']) await check(t, { plugin, 'resource-path': ['a', 'b', 'c'], query: {} });
  await fc.assert(fc.asyncProperty(tokenClaims, requestData, check), { numRuns: 300 });
});

test('the default resource policy refuses a contraindicated appraisal and releases a warning or affirming one', async () => {
  const data = { plugin: 'resource', 'resource-path': ['default', 'key', '1'], query: {} };
  const token = (status: string) => ({ submods: { cpu0: { 'ear.status': status, 'ear.veraison.annotated-evidence': { snp: { measurement: 'aa' } } } } });
  const policy = builtinResourcePolicy('default');
  const denied = await resources.evaluate(policy, token('contraindicated'), data);
  assert.equal(denied.allow, false);
  assert.match(denied.reason, /failed at `not contraindicated`/);
  for (const s of ['warning', 'affirming', 'none']) assert.equal((await resources.evaluate(policy, token(s), data)).allow, true, s);
  // Trustee's default releases the contraindicated token; it stays loadable unmodified for that behaviour.
  assert.equal((await resources.evaluate(TRUSTEE_RESOURCE.default!, token('contraindicated'), data)).allow, true);
  // A GPU submodule's contraindication counts as much as the CPU's.
  const mixed = { submods: { cpu0: token('affirming').submods.cpu0, gpu0: { 'ear.status': 'contraindicated' } } };
  assert.equal((await resources.evaluate(policy, mixed, data)).allow, false);
  // The README says so, and says how to get Trustee's behaviour back.
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(readme, /The \*\*default resource policy\*\* releases `resource` requests to a real TEE unless an appraisal in the token is `contraindicated`/);
  assert.match(readme, /cocokit then refuses the secret/);
  assert.match(readme, /load Trustee's `default\.rego` to keep that behaviour/);
});
