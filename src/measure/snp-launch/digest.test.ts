import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readVector, readVectorJson } from '../../test-support/vectors.js';
import { toHex } from '../../formats/bytes.js';
import { type PageUpdate, PAGE_TYPE_NAMES, snpLaunchDigest, snpOvmfHash, sevEsLaunchDigest, sevLaunchDigest } from './index.js';
import { cmdlineBytes } from './sev-hashes.js';
import { CPU_SIGS, cpuSig } from './vcpu-types.js';
import { CocoError } from '../../errors.js';

interface TraceStep {
  page_type: number;
  gpa: string;
  contents: string;
  ld_after: string;
}
interface Trace {
  label: string;
  ovmf_normal_pages: number;
  ld_after_ovmf_pages: string;
  steps_after_ovmf: TraceStep[];
  final: string;
}
interface MeasureCase {
  id: string;
  mode: string;
  ovmf: string;
  kernel: string | null;
  initrd: string | null;
  append: string | null;
  vcpus: number | null;
  vcpu_type: string | null;
  vcpu_fms_arg: [number, number, number] | null;
  vmm_type: 'QEMU' | 'ec2' | 'gce';
  guest_features_arg: string | null;
  expected: string | null;
  effective: { vcpu_sig: string | null; vmsa_rdx: string | null; sev_features: string | null; cmdline_bytes_hashed: string | null };
}

const traces = readVectorJson<Trace[]>('snp', 'measure-trace.json');
const cases = readVectorJson<{ cases: MeasureCase[] }>('snp', 'measure-cases.json').cases;
const file = (p: string | null): Uint8Array | undefined => (p === null ? undefined : new Uint8Array(readVector('snp', p)));

function snpOptions(c: MeasureCase) {
  const sig = c.effective.vcpu_sig === null ? undefined : Number(c.effective.vcpu_sig);
  return {
    ovmf: file(c.ovmf)!,
    kernel: file(c.kernel),
    initrd: file(c.initrd),
    cmdline: c.append ?? undefined,
    vcpus: c.vcpus ?? 0,
    vcpuSig: sig,
    vmm: c.vmm_type,
    guestFeatures: c.guest_features_arg === null ? undefined : BigInt(c.guest_features_arg),
  };
}

for (const t of traces) {
  test(`every page update of ${t.label} matches the oracle trace`, () => {
    const c = cases.find((x) => x.id === t.label)!;
    const updates: PageUpdate[] = [];
    const ld = snpLaunchDigest({ ...snpOptions(c), onPage: (u) => updates.push({ ...u, contents: Uint8Array.from(u.contents), ld: Uint8Array.from(u.ld) }) });
    assert.equal(toHex(updates[t.ovmf_normal_pages - 1].ld), t.ld_after_ovmf_pages);
    assert.ok(updates.slice(0, t.ovmf_normal_pages).every((u) => PAGE_TYPE_NAMES[u.pageType] === 'NORMAL'));
    const after = updates.slice(t.ovmf_normal_pages);
    assert.deepEqual(
      after.map((u) => ({ page_type: u.pageType, gpa: `0x${u.gpa.toString(16)}`, contents: toHex(u.contents), ld_after: toHex(u.ld) })),
      t.steps_after_ovmf,
    );
    assert.equal(toHex(ld), t.final);
  });
}

test('the library reproduces every successful snp, seves and sev oracle case', () => {
  for (const c of cases.filter((x) => x.expected !== null)) {
    const o = snpOptions(c);
    let ld: Uint8Array;
    if (c.mode === 'snp:ovmf-hash') ld = snpOvmfHash(o.ovmf);
    else if (c.mode === 'snp') ld = snpLaunchDigest(o);
    else if (c.mode === 'seves') ld = sevEsLaunchDigest(o);
    else ld = sevLaunchDigest(o);
    assert.equal(toHex(ld), c.expected, c.id);
  }
});

test('snpLaunchDigest takes a QEMU vCPU model name instead of a signature', () => {
  const c = cases.find((x) => x.id === 's04-debian-4-milan-gf21')!;
  assert.equal(toHex(snpLaunchDigest({ ...snpOptions(c), vcpuSig: undefined, vcpuType: 'EPYC-Milan' })), c.expected);
  assert.throws(() => snpLaunchDigest({ ...snpOptions(c), vcpuSig: undefined, vcpuType: 'EPYC-Nope' }), (e: unknown) => e instanceof CocoError && e.code === 'MEASURE_VCPU_TYPE');
});

test('the vCPU signature of each model and family/model/stepping matches what the oracle put in RDX', () => {
  for (const c of cases) {
    if (c.vcpu_type !== null) assert.equal(CPU_SIGS.get(c.vcpu_type), Number(c.effective.vcpu_sig), c.id);
    if (c.vcpu_fms_arg !== null) assert.equal(cpuSig(...c.vcpu_fms_arg), Number(c.effective.vcpu_sig), c.id);
  }
});

test('the command line is hashed as UTF-8 plus NUL, and an empty one as just NUL', () => {
  for (const c of cases.filter((x) => x.effective.cmdline_bytes_hashed !== null)) {
    assert.equal(toHex(cmdlineBytes(c.append ?? undefined)), c.effective.cmdline_bytes_hashed, c.id);
  }
});

test('a kernel on firmware without SNP_KERNEL_HASHES is an error, not a digest', () => {
  const c = cases.find((x) => x.id === 's21-debian-kernel-err')!;
  assert.throws(() => snpLaunchDigest(snpOptions(c)), (e: unknown) => e instanceof CocoError && e.code === 'MEASURE_SNP_NO_KERNEL_HASHES' && e.kind === 'input');
});

test('a firmware image that is not a multiple of 4 KiB is rejected', () => {
  const ovmf = new Uint8Array(readVector('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin'));
  const odd = new Uint8Array(ovmf.length + 16);
  odd.set(ovmf, 16);
  assert.throws(() => snpOvmfHash(odd), (e: unknown) => e instanceof CocoError && e.code === 'MEASURE_SNP_PAGE_SIZE');
});

test('a precomputed firmware hash must be 48 bytes', () => {
  const c = cases.find((x) => x.id === 's03-debian-1-epycv4')!;
  assert.throws(() => snpLaunchDigest({ ...snpOptions(c), ovmfHash: new Uint8Array(32) }), (e: unknown) => e instanceof CocoError && e.kind === 'usage');
});

test('the SEV digest of firmware alone is the SHA-256 of the file', () => {
  const ovmf = new Uint8Array(readVector('snp', 'ovmf', 'OVMF.fd'));
  assert.equal(toHex(sevLaunchDigest({ ovmf })), createHash('sha256').update(ovmf).digest('hex'));
});
