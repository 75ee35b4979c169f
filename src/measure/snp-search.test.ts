import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CocoError } from '../errors.js';
import { fromHex, toHex } from '../formats/bytes.js';
import { snpArtifactsOf, snpMeasureCase } from './test-support/snp-cases.js';
import { explainSnpMismatch, snpReferenceValuesFromArtifacts, type SnpArtifacts } from './from-artifacts.js';
import { CPU_SIGS, VMM_TYPES, snpLaunchDigest } from './snp-launch/index.js';
import { SEARCH_GUEST_FEATURES, checkSearchStates, searchSnpStates, snpSearchInput, snpSearchStates } from './snp-search.js';

const byId = snpMeasureCase;
const artifactsOf = snpArtifactsOf;
const digestOf = (a: SnpArtifacts): Uint8Array =>
  snpLaunchDigest({ ovmf: a.ovmf, kernel: a.kernel, initrd: a.initrd, cmdline: a.append, vcpus: a.vcpus, vcpuType: a.vcpuType, vmm: a.vmmType, guestFeatures: a.guestFeatures });
/** The registration's search input, as a KBS reads it back from the stored provenance (JSON round trip). */
const inputOf = (a: SnpArtifacts) => snpSearchInput(JSON.parse(JSON.stringify(snpReferenceValuesFromArtifacts(a).provenance.measurement.parameters)))!;

test('search states: one digest per VMM type, kernel hashes off and without --append, bounded in size', () => {
  const s11 = artifactsOf(byId('s11-amdsev-k-i-a'));
  const p = snpReferenceValuesFromArtifacts(s11).provenance.measurement.parameters;
  const states = checkSearchStates(p.searchStates)!;
  assert.deepEqual(Object.keys(states.digests).sort(), ['QEMU', 'ec2', 'gce', 'kernel-hashes-off', 'no-append']);
  assert.ok(JSON.stringify(p.searchStates).length < 700, JSON.stringify(p.searchStates));
  // Without a kernel there is nothing to turn off; each state continued by the VMSA pages is the launch digest.
  const s04 = artifactsOf(byId('s04-debian-4-milan-gf21'));
  assert.deepEqual(Object.keys(snpSearchStates(s04).digests).sort(), ['QEMU', 'ec2', 'gce']);
  assert.notEqual(states.resetEip, 0);
});

test('the search from stored states names the change sev-snp-measure oracles differ by', async () => {
  // s04 registered, reported with 2 vCPUs.
  const s04 = artifactsOf(byId('s04-debian-4-milan-gf21'));
  const two = digestOf({ ...s04, vcpus: 2 });
  assert.equal((await searchSnpStates(inputOf(s04), two)).explanation?.hint, 'matches with --vcpus 2; registered with 4');
  // s11 registered (kernel, initrd, append) and s18 measured by sev-snp-measure without a kernel.
  const k = await searchSnpStates(inputOf(artifactsOf(byId('s11-amdsev-k-i-a'))), fromHex(byId('s18-amdsev-nokernel').expected));
  assert.equal(k.explanation?.hint, 'matches with kernel hashes off; registered with kernel hashes on');
  // s04 and s03 differ in three parameters: no single change explains it, and every candidate was tried.
  const none = await searchSnpStates(inputOf(s04), fromHex(byId('s03-debian-1-epycv4').expected));
  assert.equal(none.explanation, undefined);
  assert.equal(none.complete, true);
  assert.equal(none.tried, 63 + 4 + 2 + 6);
});

test('the search from states equals the search from the artifacts (fast-check over cases and changes)', async () => {
  const regs = ['s04-debian-4-milan-gf21', 's11-amdsev-k-i-a', 's16-amdsev-ec2-k', 's17-amdsev-gce-k'].map((id) => artifactsOf(byId(id)));
  const inputs = regs.map(inputOf);
  const change = fc.oneof(
    fc.record({ kind: fc.constant('vcpus' as const), n: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('vcpuType' as const), name: fc.constantFrom(...CPU_SIGS.keys()) }),
    fc.record({ kind: fc.constant('vmm' as const), vmm: fc.constantFrom(...VMM_TYPES) }),
    fc.record({ kind: fc.constant('gf' as const), gf: fc.constantFrom(...SEARCH_GUEST_FEATURES, 0x7n) }),
    fc.record({ kind: fc.constant('noKernel' as const) }),
    fc.record({ kind: fc.constant('noAppend' as const) }),
    fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 48, maxLength: 48 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: regs.length - 1 }), change, async (i, c) => {
      const a = regs[i]!;
      let reported: Uint8Array;
      if (c.kind === 'random') reported = c.bytes;
      else {
        const b: SnpArtifacts =
          c.kind === 'vcpus' ? { ...a, vcpus: c.n }
          : c.kind === 'vcpuType' ? { ...a, vcpuType: c.name }
          : c.kind === 'vmm' ? { ...a, vmmType: c.vmm }
          : c.kind === 'gf' ? { ...a, guestFeatures: c.gf }
          : c.kind === 'noKernel' ? { ...a, kernel: undefined, initrd: undefined, append: undefined }
          : { ...a, append: undefined };
        reported = digestOf(b);
      }
      const fromArtifacts = await explainSnpMismatch(a, reported);
      const fromStates = await searchSnpStates(inputs[i]!, reported);
      assert.deepEqual(fromStates.explanation, fromArtifacts, `${i} ${JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
      assert.equal(fromStates.complete, true);
    }),
    { numRuns: 16 },
  );
});

test('the search stops at its deadline and yields to the event loop', async () => {
  const s = inputOf(artifactsOf(byId('s04-debian-4-milan-gf21')));
  const r = await searchSnpStates(s, new Uint8Array(48), { deadlineMs: -1, batch: 1 });
  assert.equal(r.complete, false);
  assert.ok(r.tried < 75);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  await searchSnpStates(s, new Uint8Array(48), { batch: 1 });
  clearInterval(timer);
  assert.ok(ticks >= 1, `the event loop ran ${ticks} times`);
});

test('malformed search states are RV_SEARCH_STATES input errors; states that lie explain nothing', async () => {
  const params = JSON.parse(JSON.stringify(snpReferenceValuesFromArtifacts(artifactsOf(byId('s04-debian-4-milan-gf21'))).provenance.measurement.parameters)) as Record<string, unknown>;
  const states = params.searchStates as { resetEip: number; digests: Record<string, string> };
  const q = states.digests.QEMU!;
  const bad: unknown[] = [
    'x',
    [],
    { digests: states.digests },
    { ...states, resetEip: -1 },
    { ...states, resetEip: 2 ** 32 },
    { ...states, resetEip: 1.5 },
    { ...states, resetEip: '0' },
    { ...states, digests: { ...states.digests, QEMU: q.slice(0, 94) } },
    { ...states, digests: { ...states.digests, QEMU: `${q.slice(0, 95)}g` } },
    { ...states, digests: { ...states.digests, QEMU: q.toUpperCase() } },
    { ...states, digests: { ...states.digests, QEMU: q + '00' } },
    { ...states, digests: { ...states.digests, QEMU: 'ab'.repeat(100_000) } },
    { ...states, digests: { ...states.digests, xen: q } },
    { ...states, digests: [q] },
    { ...states, extra: 1 },
  ];
  for (const s of bad) {
    assert.throws(() => snpSearchInput({ ...params, searchStates: s }), (e: unknown) => e instanceof CocoError && e.code === 'RV_SEARCH_STATES' && e.kind === 'input', JSON.stringify(s).slice(0, 200));
  }
  for (const p of [{ vcpus: 0 }, { vcpus: '4' }, { vmmType: 'xen' }, { vcpuType: 'Pentium' }, { guestFeatures: 33 }, { guestFeatures: '0x' + 'f'.repeat(17) }, { kernelHashes: 'no' }, { append: 7 }]) {
    assert.throws(() => snpSearchInput({ ...params, ...p }), (e: unknown) => e instanceof CocoError && e.code === 'RV_SEARCH_STATES', JSON.stringify(p));
  }
  const { QEMU: _q, ...noOwn } = states.digests;
  assert.throws(() => snpSearchInput({ ...params, searchStates: { ...states, digests: noOwn } }), /no state for the registered VMM type QEMU/);
  // No states: no search possible, not an error.
  assert.equal(snpSearchInput({ ...params, searchStates: undefined }), undefined);
  assert.equal(snpSearchInput('nope'), undefined);
  // Random JSON where the states go: parsed or refused with the one code.
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
      try {
        snpSearchInput({ ...params, searchStates: v });
      } catch (e) {
        assert.ok(e instanceof CocoError && e.code === 'RV_SEARCH_STATES', String(e));
      }
    }),
    { numRuns: 200 },
  );
  // A flipped byte in a state: well formed, so the search runs, and names nothing.
  const flipped = `${q[0] === '0' ? '1' : '0'}${q.slice(1)}`;
  const s = snpSearchInput({ ...params, searchStates: { ...states, digests: { ...states.digests, QEMU: flipped } } })!;
  const two = digestOf({ ...artifactsOf(byId('s04-debian-4-milan-gf21')), vcpus: 2 });
  assert.equal((await searchSnpStates(s, two)).explanation, undefined);
  // A reset EIP of 0: only one-vCPU launches can be tried.
  const z = snpSearchInput({ ...params, searchStates: { ...states, resetEip: 0 } })!;
  assert.equal((await searchSnpStates(z, two)).explanation, undefined);
  assert.equal(toHex(two).length, 96);
});
