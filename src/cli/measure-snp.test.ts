import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';

interface MeasureCase {
  id: string;
  argv: string[];
  expected: string | null;
  expected_error: string | null;
}

const cases = readVectorJson<{ cases: MeasureCase[] }>('snp', 'measure-cases.json').cases;
const SNP_DIR = vectorPath('snp');

async function measure(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, SNP_DIR);
  const code = await run(['measure', 'snp', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

for (const c of cases) {
  test(`measure snp reproduces sev-snp-measure case ${c.id}`, async () => {
    const r = await measure(c.argv);
    if (c.expected !== null) {
      assert.equal(r.err, '');
      assert.equal(r.code, 0);
      assert.equal(r.out, `${c.expected}\n`);
    } else {
      assert.ok(c.expected_error);
      assert.notEqual(r.code, 0);
      assert.equal(r.out, '');
      // sev-snp-measure prints "Error: <message>"; cocokit prints the same message after its error code.
      assert.ok(r.err.includes(c.expected_error.replace(/^Error: /, '')), r.err);
    }
  });
}

test('--output-format base64 prints the same digest in base64', async () => {
  const c = cases.find((x) => x.id === 's11-amdsev-k-i-a')!;
  const r = await measure([...c.argv, '--output-format', 'base64']);
  assert.equal(r.code, 0);
  assert.equal(r.out, `${Buffer.from(c.expected!, 'hex').toString('base64')}\n`);
});

test('-v prints the measurement with the mode name, as sev-snp-measure does', async () => {
  const c = cases.find((x) => x.id === 's24-seves-debian')!;
  const r = await measure([...c.argv, '-v']);
  assert.equal(r.out, `Calculated SEV_ES guest measurement: ${c.expected}\n`);
});

test('snp:ovmf-hash output feeds --snp-ovmf-hash to the same final digest', async () => {
  const seed = (await measure(['--mode', 'snp:ovmf-hash', '--ovmf', 'ovmf/ovmf_AmdSev_suffix.bin'])).out.trim();
  const c = cases.find((x) => x.id === 's18-amdsev-nokernel')!;
  const r = await measure([...c.argv, '--snp-ovmf-hash', seed]);
  assert.equal(r.out, `${c.expected}\n`);
});

interface TraceStep {
  page_type: number;
  gpa: string;
  contents: string;
  ld_after: string;
}
const traces = readVectorJson<Array<{ label: string; ovmf_normal_pages: number; ld_after_ovmf_pages: string; steps_after_ovmf: TraceStep[] }>>('snp', 'measure-trace.json');
const TYPES: Record<string, number> = { NORMAL: 1, VMSA: 2, ZERO: 3, UNMEASURED: 4, SECRETS: 5, CPUID: 6 };

for (const t of traces) {
  test(`--trace of ${t.label} prints the oracle's page updates on stderr and the digest on stdout`, async () => {
    const c = cases.find((x) => x.id === t.label)!;
    const r = await measure([...c.argv, '--trace']);
    assert.equal(r.out, `${c.expected}\n`);
    const lines = r.err.trim().split('\n').map((l) => /^page (\d+) (\w+) gpa=(0x[0-9a-f]+) contents=([0-9a-f]{96}) ld=([0-9a-f]{96})$/.exec(l)!);
    assert.ok(lines.every((m, i) => m !== null && Number(m[1]) === i));
    assert.equal(lines[t.ovmf_normal_pages - 1][5], t.ld_after_ovmf_pages);
    assert.deepEqual(
      lines.slice(t.ovmf_normal_pages).map((m) => ({ page_type: TYPES[m[2]], gpa: m[3], contents: m[4], ld_after: m[5] })),
      t.steps_after_ovmf,
    );
  });
}

const usageErrors: Array<[string, string[], RegExp]> = [
  ['missing --vcpus', ['--mode', 'snp', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd'], /missing --vcpus N in guest mode 'snp'/],
  ['--initrd without --kernel', ['--mode', 'snp', '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd', '--initrd', 'gen/initrd-s1.bin'], /--kernel required when using --initrd/],
  ['--append without --kernel', ['--mode', 'sev', '--ovmf', 'ovmf/OVMF.fd', '--append', 'quiet'], /--kernel required when using --append/],
  ['no vCPU type for QEMU', ['--mode', 'snp', '--vcpus', '1', '--ovmf', 'ovmf/OVMF.fd'], /missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode 'snp'/],
  ['unknown VMM type', ['--mode', 'snp', '--vcpus', '1', '--vmm-type', 'xen', '--ovmf', 'ovmf/OVMF.fd'], /unknown VMM type 'xen'/],
  ['--snp-ovmf-hash outside snp mode', ['--mode', 'seves', '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd', '--snp-ovmf-hash', '00'], /SNP OVMF hash only works with SNP/],
  ['a short --snp-ovmf-hash', ['--mode', 'snp', '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd', '--snp-ovmf-hash', 'abcd'], /48 bytes/],
  ['snp:svsm without vars', ['--mode', 'snp:svsm', '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd', '--svsm', 'ovmf/ovmf_AmdSev_suffix.bin'], /requires --vars-size or --vars-file/],
  ['a missing OVMF file', ['--mode', 'sev', '--ovmf', 'ovmf/none.fd'], /cannot read OVMF 'ovmf\/none.fd'/],
  ['kernel measurement on firmware without a hashes table (sev)', ['--mode', 'sev', '--ovmf', 'ovmf/OVMF.fd', '--kernel', 'gen/kernel-s2.bin'], /OVMF doesn't support kernel\/initrd\/cmdline measurement/],
];
for (const [name, argv, message] of usageErrors) {
  test(`measure snp rejects ${name}`, async () => {
    const r = await measure(argv);
    assert.notEqual(r.code, 0);
    assert.equal(r.out, '');
    assert.match(r.err, message);
  });
}

test('measure snp rejects an unknown --vcpu-type and a malformed --vcpu-sig', async () => {
  for (const argv of [
    ['--mode', 'snp', '--vcpus', '1', '--vcpu-type', 'EPYC-Zen9', '--ovmf', 'ovmf/OVMF.fd'],
    ['--mode', 'snp', '--vcpus', '1', '--vcpu-sig', '0xZZ', '--ovmf', 'ovmf/OVMF.fd'],
    ['--mode', 'snp', '--vcpus', 'two', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/OVMF.fd'],
  ]) {
    const r = await measure(argv);
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
  }
});

test('--vcpu-sig accepts the bases Python int(s, 0) accepts', async () => {
  const c = cases.find((x) => x.id === 's09-debian-1-sig')!;
  for (const sig of ['0xa00f11', '10489617', '0o50007421', '0b101000000000111100010001', '0xa0_0f11']) {
    const argv = c.argv.map((a) => (a === '0xa00f11' ? sig : a));
    assert.equal((await measure(argv)).out, `${c.expected}\n`, sig);
  }
});

test('snp:svsm reads --vars-file or --vars-size and needs the SVSM info entry in the SVSM image', async () => {
  const base = ['--mode', 'snp:svsm', '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--ovmf', 'ovmf/ovmf_AmdSev_suffix.bin', '--svsm', 'ovmf/ovmf_OvmfX64_suffix.bin'];
  for (const vars of [['--vars-size', '540672'], ['--vars-file', 'ovmf/OVMF.fd']]) {
    const r = await measure([...base, ...vars]);
    assert.equal(r.code, 4);
    assert.match(r.err, /Can't find SVSM_INFO_GUID entry in SVSM table/);
  }
  const ec2 = await measure([...base, '--vars-size', '540672', '--vmm-type', 'ec2']);
  assert.match(ec2.err, /SVSM mode is only implemented for Qemu/);
});

test('--dump-vmsa writes the measured VMSA pages that the oracle dumped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-vmsa-'));
  try {
    const io = bufferIO({}, dir);
    const ovmf = vectorPath('snp', 'ovmf', 'ovmf_AmdSev_suffix.bin');
    const code = await run(['measure', 'snp', '--mode', 'snp', '--vcpus', '2', '--vcpu-type', 'EPYC-Milan', '--guest-features', '0x21', '--ovmf', ovmf, '--dump-vmsa'], io);
    assert.equal(code, 0, io.err());
    assert.deepEqual(readFileSync(join(dir, 'vmsa0.bin')), readFileSync(vectorPath('snp', 'vmsa', 'qemu-milan-gf21-bsp.bin')));
    assert.deepEqual(readFileSync(join(dir, 'vmsa1.bin')), readFileSync(vectorPath('snp', 'vmsa', 'qemu-milan-gf21-ap.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
