import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { readVectorJson, toolMissing, vectorPath } from '../../test-support/vectors.js';
import { toHex } from '../../formats/bytes.js';
import { CocoError } from '../../errors.js';
import { run } from '../../cli/program.js';
import { bufferIO } from '../../cli/io.js';
import { findLibkrunfw, krunMeasurements, readLibkrunfw } from './index.js';

// A stand-in libkrunfw-sev built here with gcc: the vector bundles as global, 64 KiB-aligned, NUL-terminated
// arrays (what bin2cbundle.py emits) and krunfw_get_* functions with the ABI-4 signatures.
const M = vectorPath('keybroker', 'measurement');
const STUB_C = `#include <stddef.h>
#define BUNDLE(name, file) __asm__(".pushsection .data\\n.globl " #name "\\n.type " #name ",@object\\n.balign 65536\\n" #name ":\\n.incbin \\"" file "\\"\\n.byte 0\\n.size " #name ", .-" #name "\\n.popsection\\n")
BUNDLE(QBOOT_BUNDLE, "${M}/qboot.bin");
BUNDLE(KERNEL_BUNDLE, "${M}/kernel.bin");
BUNDLE(INITRD_BUNDLE, "${M}/initrd.bin");
extern char QBOOT_BUNDLE[], KERNEL_BUNDLE[], INITRD_BUNDLE[];
char *krunfw_get_qboot(size_t *size) { *size = 0x10000; return QBOOT_BUNDLE; }
char *krunfw_get_kernel(size_t *load_addr, size_t *entry_addr, size_t *size) { *load_addr = 0x1000000; *entry_addr = 0x1000000; *size = 0x30000; return KERNEL_BUNDLE; }
char *krunfw_get_initrd(size_t *size) { *size = 0x20000; return INITRD_BUNDLE; }
int krunfw_get_version(void) { return 4; }
`;

const skip = toolMissing('gcc');
let dir = '';
let lib = '';
let libBytes = new Uint8Array(0);
const v = readVectorJson<{ cases: Array<{ cpus: number; ram_mib: number; SEV: string; 'SEV-ES': string; SNP: string }> }>('keybroker', 'measurement', 'krunfw_measurement_vectors.json');

before(() => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'cocokit-krunfw-'));
  writeFileSync(join(dir, 'stub.c'), STUB_C);
  lib = join(dir, 'libkrunfw-sev.so.4');
  const r = spawnSync('gcc', ['-O2', '-shared', '-fPIC', '-o', lib, join(dir, 'stub.c')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  libBytes = new Uint8Array(readFileSync(lib));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('reads the bundles and the kernel load address out of a libkrunfw-sev library', { skip }, () => {
  const fw = readLibkrunfw(libBytes);
  assert.equal(fw.kernelLoadAddr, 0x1000000);
  assert.deepEqual(Buffer.from(fw.qboot), readFileSync(join(M, 'qboot.bin')));
  assert.deepEqual(Buffer.from(fw.kernel), readFileSync(join(M, 'kernel.bin')));
  assert.deepEqual(Buffer.from(fw.initrd), readFileSync(join(M, 'initrd.bin')));
  for (const c of v.cases) assert.equal(toHex(krunMeasurements({ ...fw, cpus: c.cpus, ramMib: c.ram_mib }).snp), c.SNP);
});

test('measure krun --firmware takes the library path, or finds it on LD_LIBRARY_PATH like buildah', { skip }, async () => {
  const c = v.cases[3];
  const io = bufferIO({}, dir);
  assert.equal(await run(['measure', 'krun', '-c', String(c.cpus), '-m', String(c.ram_mib), '--firmware', lib, '--tee', 'snp'], io), 0, io.err());
  assert.equal(io.out(), `${c.SNP}\n`);
  const viaEnv = bufferIO({ LD_LIBRARY_PATH: `/nonexistent:${dir}` }, '/');
  assert.equal(await run(['measure', 'krun', '-c', String(c.cpus), '-m', String(c.ram_mib), '--tee', 'snp'], viaEnv), 0, viaEnv.err());
  assert.equal(viaEnv.out(), `${c.SNP}\n`);
  assert.equal(findLibkrunfw(undefined, ['/nonexistent', dir]), lib);
  assert.equal(findLibkrunfw('libkrunfw-sev.so.4', ['/nonexistent', dir]), lib);
});

test('the library search follows buildah: absolute path, then directories × .so.4/.so.3/.so', () => {
  const present = new Set(['/usr/lib/libkrunfw-sev.so.3', '/usr/lib/libkrunfw-sev.so', '/opt/k/libkrunfw-sev.so.4']);
  const exists = (p: string): boolean => present.has(p);
  assert.equal(findLibkrunfw(undefined, ['/usr/lib64', '/usr/lib', '/opt/k'], exists), '/usr/lib/libkrunfw-sev.so.3');
  assert.equal(findLibkrunfw('libkrunfw-sev.so.4', ['/usr/lib', '/opt/k'], exists), '/opt/k/libkrunfw-sev.so.4');
  assert.equal(findLibkrunfw('/opt/k/libkrunfw-sev.so.4', [], exists), '/opt/k/libkrunfw-sev.so.4');
  assert.throws(() => findLibkrunfw('/opt/none.so', ['/usr/lib'], exists), (e: unknown) => e instanceof CocoError && e.kind === 'file');
  // The message says where it looked and how to point elsewhere.
  assert.throws(
    () => findLibkrunfw(undefined, ['/opt'], exists),
    (e: unknown) => e instanceof CocoError && e.kind === 'file' && /in \/opt /.test(e.message) && /--firmware/.test(e.message) && /LD_LIBRARY_PATH/.test(e.message),
  );
});

test('a library without the bundle symbols, or not an ELF file, is an input error', { skip }, () => {
  const renamed = Buffer.from(libBytes);
  const at = renamed.indexOf('QBOOT_BUNDLE');
  renamed[at] = 'X'.charCodeAt(0);
  assert.throws(() => readLibkrunfw(renamed), (e: unknown) => e instanceof CocoError && /QBOOT_BUNDLE/.test(e.message));
  assert.throws(() => readLibkrunfw(new TextEncoder().encode('#!/bin/sh\n')), /not an ELF file/);
  assert.throws(() => readLibkrunfw(libBytes.subarray(0, 4096)), (e: unknown) => e instanceof CocoError && e.kind === 'input');
});

test('fuzz: truncated and mutated libraries parse or fail with a CocoError', { skip }, () => {
  const check = (b: Uint8Array): void => {
    try {
      readLibkrunfw(b);
    } catch (e) {
      if (!(e instanceof CocoError)) throw e;
    }
  };
  fc.assert(fc.property(fc.integer({ min: 0, max: libBytes.length }), (n) => check(libBytes.subarray(0, n))), { numRuns: 100 });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(libBytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }), (muts) => {
      const b = Uint8Array.from(libBytes);
      // Bias half the mutations into the ELF and section headers, where the parser reads.
      for (const [at, val] of muts) b[at % 2 === 0 ? at % 64 : at] = val;
      check(b);
    }),
    { numRuns: 200 },
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => check(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, ...b]))), { numRuns: 200 });
});
