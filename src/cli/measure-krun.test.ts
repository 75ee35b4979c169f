import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';

const DIR = vectorPath('keybroker', 'measurement');
const v = readVectorJson<{ cases: Array<{ cpus: number; ram_mib: number; SEV: string; 'SEV-ES': string; SNP: string }> }>('keybroker', 'measurement', 'krunfw_measurement_vectors.json');

async function krun(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, DIR);
  const code = await run(['measure', 'krun', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

for (const c of v.cases) {
  test(`measure krun prints krunfw_measurement's lines for -c ${c.cpus} -m ${c.ram_mib}`, async () => {
    const r = await krun(['-c', String(c.cpus), '-m', String(c.ram_mib), '--firmware', '.']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `SEV:\t${c.SEV}\nSEV-ES:\t${c['SEV-ES']}\nSNP:\t${c.SNP}\n`);
  });
}

test('--tee selects the digest buildah would register', async () => {
  const c = v.cases[4];
  const base = ['--cpus', String(c.cpus), '--ram-mib', String(c.ram_mib), '--qboot', 'qboot.bin', '--kernel', 'kernel.bin', '--initrd', 'initrd.bin', '--kernel-load-addr', '0x1000000'];
  assert.equal((await krun([...base, '--tee', 'snp'])).out, `${c.SNP}\n`);
  assert.equal((await krun([...base, '--tee', 'sev-es'])).out, `${c['SEV-ES']}\n`);
  assert.equal((await krun([...base, '--tee', 'sev'])).out, `${c.SEV}\n`);
});

test('measure krun rejects missing firmware, bad counts and unknown TEEs', async () => {
  for (const argv of [
    ['-c', '1', '-m', '512'],
    ['-c', '0', '-m', '512', '--firmware', '.'],
    ['-c', 'x', '-m', '512', '--firmware', '.'],
    ['-c', '1', '-m', '512', '--firmware', '.', '--tee', 'tdx'],
    ['-c', '1', '-m', '512', '--firmware', '/nonexistent'],
  ]) {
    const r = await krun(argv);
    assert.notEqual(r.code, 0, argv.join(' '));
    assert.equal(r.out, '');
  }
});

test('measure krun without libkrunfw says where it looked and how to point elsewhere (exit 11)', async () => {
  const io = bufferIO({ LD_LIBRARY_PATH: '/nonexistent-lib' });
  const code = await run(['measure', 'krun', '--cpus', '1', '--ram-mib', '512', '--tee', 'snp', '--firmware', 'libkrunfw-sev-none.so'], io);
  assert.equal(code, 11, io.err());
  assert.match(io.err(), /\/usr\/local\/lib64.*\/nonexistent-lib/);
  assert.match(io.err(), /--firmware \/path\/to\/libkrunfw-sev\.so, LD_LIBRARY_PATH=DIR/);
  const help = bufferIO();
  await run(['measure', 'krun', '--help'], help);
  assert.match(help.out().replace(/\s+/g, ' '), /searched like buildah in \/usr\/local\/lib64/);
});
