import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { readVectorJson, vectorPath } from '../test-support/vectors.js';

type Payload = { text: string } | { generator: 'sha256ctr'; seed: string; size: number } | { generator: 'zero'; size: number };
type Expected = Record<string, Record<string, string>>;
interface Case {
  id: string;
  description: string;
  sections: Record<string, Payload>;
  systemd_measure_argv: string[];
  expected: Expected;
  expected_sections_only: Record<string, string>;
}
interface PeCase {
  id: string;
  description: string;
  pe_file: string;
  pe_sha256: string;
  expected: Expected;
  expected_sections_only: Record<string, string>;
}
const vectors = readVectorJson<{ cases: Case[]; pe_cases: PeCase[] }>('uki', 'cases.json');

/** The payload encodings of cases.json (`payload_encodings`). */
function payload(p: Payload): Buffer {
  if ('text' in p) return Buffer.from(p.text, 'utf8');
  if (p.generator === 'zero') return Buffer.alloc(p.size);
  const parts: Buffer[] = [];
  let n = 0;
  for (let k = 0; n < p.size; k++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(k);
    const block = createHash('sha256').update(Buffer.from(p.seed, 'utf8')).update(ctr).digest();
    parts.push(block);
    n += block.length;
  }
  return Buffer.concat(parts).subarray(0, p.size);
}

/** A directory holding each section's payload under the file name the peer's argv uses. */
function caseDir(c: Case): string {
  const dir = mkdtempSync(join(tmpdir(), `cocokit-uki-${c.id}-`));
  for (const [name, p] of Object.entries(c.sections)) writeFileSync(join(dir, name), payload(p));
  return dir;
}

async function cocokit(argv: string[], cwd: string, isTTY = false): Promise<{ code: number; out: string; err: string }> {
  const io = bufferIO({}, cwd);
  io.isTTY = isTTY;
  const code = await run(['measure', 'uki', ...argv], io);
  return { code, out: io.out(), err: io.err() };
}

/** `{bank: {phase: hash}}` from `--json` output, phase ':' when the entry has none (cases.json convention). */
function byBankAndPhase(json: string): Expected {
  const parsed = JSON.parse(json) as Record<string, Array<{ phase?: string; pcr: number; hash: string }>>;
  const out: Expected = {};
  for (const [bank, list] of Object.entries(parsed)) {
    out[bank] = {};
    for (const e of list) {
      assert.equal(e.pcr, 11);
      out[bank][e.phase ?? ':'] = e.hash;
    }
  }
  return out;
}

const SECTIONS_ONLY = ['--phase=:', '--bank=sha1', '--bank=sha256', '--bank=sha384', '--bank=sha512', '--json=short'];

for (const c of vectors.cases) {
  test(`case ${c.id} through the CLI with systemd-measure's argv: ${c.description}`, async () => {
    const dir = caseDir(c);
    const r = await cocokit(c.systemd_measure_argv, dir);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(byBankAndPhase(r.out), c.expected);
    const argvSections = c.systemd_measure_argv.filter((a) => !/^--(bank|phase|json)=/.test(a));
    const s = await cocokit([...argvSections, ...SECTIONS_ONLY], dir);
    assert.deepEqual(byBankAndPhase(s.out), Object.fromEntries(Object.entries(c.expected_sections_only).map(([b, h]) => [b, { ':': h }])));
  });
}

for (const c of vectors.pe_cases) {
  test(`PE case ${c.id} through --uki: ${c.description}`, async () => {
    const file = vectorPath('uki', c.pe_file);
    assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), c.pe_sha256);
    const r = await cocokit(['calculate', `--uki=${file}`, '--json=short'], process.cwd());
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(byBankAndPhase(r.out), c.expected);
    const s = await cocokit(['calculate', `--uki=${file}`, ...SECTIONS_ONLY], process.cwd());
    assert.deepEqual(byBankAndPhase(s.out), Object.fromEntries(Object.entries(c.expected_sections_only).map(([b, h]) => [b, { ':': h }])));
  });
}

test("reproduces the spec's quick-check values in systemd-measure's text format", async () => {
  // specs/measured-boot.md §2.2, computed there with systemd-measure 252.
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-quick-'));
  writeFileSync(join(dir, 'kernel'), 'kernel');
  writeFileSync(join(dir, 'osrel'), 'ID=test\n');
  writeFileSync(join(dir, 'cmdline'), 'console=ttyS0');
  const r = await cocokit(['calculate', '--linux=kernel', '--osrel=osrel', '--cmdline=cmdline', '--bank=sha256', '--phase=enter-initrd', '--phase=:'], dir);
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    '11:sha256=b81b6986c960e32deb7673440bf59586d7c676bbacffd5a823371094dad7783f\n11:sha256=928bd7c8fc09e65909ad343a1a53b87b058a662978f03dddefebd04555652e50\n',
  );
  assert.equal(r.err, '# PCR[11] Phase <:>\n# PCR[11] Phase <enter-initrd>\n');
});

test('refuses like systemd-measure: no --linux, unknown bank, bad --json, missing file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-err-'));
  writeFileSync(join(dir, 'linux'), 'k');
  const noLinux = await cocokit(['calculate', '--osrel=linux'], dir);
  assert.equal(noLinux.code, 1);
  assert.match(noLinux.err, /Either --linux= or --uki= must be specified, refusing\./);
  assert.doesNotMatch(noLinux.err, /--current/);
  const bank = await cocokit(['calculate', '--linux=linux', '--bank=foo'], dir);
  assert.equal(bank.code, 1);
  assert.match(bank.err, /Unknown bank 'foo', refusing\./);
  const json = await cocokit(['calculate', '--linux=linux', '--json=bad'], dir);
  assert.equal(json.code, 1);
  assert.match(json.err, /Unknown argument to --json= switch: bad/);
  const missing = await cocokit(['calculate', '--linux=nonexist'], dir);
  assert.equal(missing.code, 8);
  assert.ok(missing.err.includes(`Failed to open '${join(dir, 'nonexist')}': No such file or directory`), missing.err);
});

test('--uki rejects a file that is not a PE image, a truncated one, and a PE without .linux', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-bad-'));
  const pe = readFileSync(vectorPath('uki', 'pe', 'pe-s01.efi'));
  writeFileSync(join(dir, 'text.efi'), 'this is not a PE image at all, just some text long enough for a DOS header...');
  let r = await cocokit(['calculate', '--uki=text.efi'], dir);
  assert.equal(r.code, 4);
  assert.match(r.err, /PE_FORMAT.*MZ/);
  for (const cut of [0x3e, 0x90, 0x180, 0x400, pe.length - 100]) {
    writeFileSync(join(dir, 'cut.efi'), pe.subarray(0, cut));
    r = await cocokit(['calculate', '--uki=cut.efi'], dir);
    assert.equal(r.code, 4, `cut at ${cut}: ${r.err}`);
    assert.match(r.err, /FORMAT_TRUNCATED|PE_FORMAT/);
  }
  const renamed = Buffer.from(pe);
  const at = renamed.indexOf(Buffer.from('.linux\0'));
  renamed.write('.linuy', at, 'latin1');
  writeFileSync(join(dir, 'nolinux.efi'), renamed);
  r = await cocokit(['calculate', '--uki=nolinux.efi'], dir);
  assert.equal(r.code, 4);
  assert.match(r.err, /UKI_NOT_UKI.*\.linuy/);
  r = await cocokit(['calculate', '--uki=nolinux.efi', '--linux=text.efi'], dir);
  assert.equal(r.code, 1);
});

test('-j prints pretty JSON on a terminal and short JSON otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-j-'));
  writeFileSync(join(dir, 'linux'), 'kernel');
  const short = await cocokit(['calculate', '--linux=linux', '--bank=sha256', '--phase=:', '-j'], dir);
  assert.match(short.out, /^\{"sha256":\[\{"pcr":11,"hash":"[0-9a-f]{64}"\}\]\}\n$/);
  const pretty = await cocokit(['calculate', '--linux=linux', '--bank=sha256', '--phase=:', '-j'], dir, true);
  assert.match(pretty.out, /^\{\n\t"sha256" : \[\n\t\t\{\n\t\t\t"pcr" : 11,\n\t\t\t"hash" : "[0-9a-f]{64}"\n\t\t\}\n\t\]\n\}\n$/);
});

// Live oracle: Debian's systemd-measure (package `systemd`, 252 on bookworm). Required under CI=true.
const SYSTEMD_MEASURE = ['/usr/lib/systemd/systemd-measure', '/lib/systemd/systemd-measure'].find((p) => existsSync(p));
function oracleMissing(): false | string {
  if (SYSTEMD_MEASURE !== undefined) return false;
  if (process.env.CI === 'true') throw new Error('systemd-measure is required under CI=true (Debian package systemd)');
  return 'systemd-measure is not installed';
}
const skipOracle = oracleMissing();

function systemdMeasure(argv: string[], cwd: string): { code: number; out: string; err: string } {
  const r = spawnSync(SYSTEMD_MEASURE as string, argv, { cwd, encoding: 'utf8', env: { ...process.env, SYSTEMD_COLORS: '0', SYSTEMD_PAGER: 'cat' } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('identical stdout and stderr to systemd-measure for every case in text, short and pretty form', { skip: skipOracle }, async () => {
  for (const c of vectors.cases) {
    const dir = caseDir(c);
    const base = c.systemd_measure_argv.filter((a) => !a.startsWith('--json'));
    for (const extra of [[], ['--json=short'], ['--json=pretty']]) {
      const argv = [...base, ...extra];
      const want = systemdMeasure(argv, dir);
      const got = await cocokit(argv, dir);
      assert.equal(got.out, want.out, `${c.id} ${argv.join(' ')}`);
      assert.equal(got.err, want.err, `${c.id} ${argv.join(' ')}`);
    }
  }
});

test('agrees with systemd-measure on random sections, banks and phases', { skip: skipOracle }, async () => {
  const names = ['linux', 'osrel', 'cmdline', 'initrd', 'splash', 'dtb', 'pcrpkey'];
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-prop-'));
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.dictionary(fc.constantFrom(...names.slice(1)), fc.uint8Array({ maxLength: 500 })),
      fc.subarray(['sha1', 'SHA256', 'sha384', 'sha512', 'sha224', 'sha-256', 'sha3-256']),
      fc.array(fc.stringMatching(/^[a-z:-]{0,20}$/), { maxLength: 4 }),
      fc.constantFrom([], ['--json=short'], ['--json=pretty']),
      async (linux, rest, banks, phases, json) => {
        writeFileSync(join(dir, 'linux'), linux);
        const argv = ['calculate', '--linux=linux'];
        for (const [name, bytes] of Object.entries(rest)) {
          writeFileSync(join(dir, name), bytes);
          argv.push(`--${name}=${name}`);
        }
        argv.push(...banks.map((b) => `--bank=${b}`), ...phases.map((p) => `--phase=${p}`), ...json);
        const want = systemdMeasure(argv, dir);
        const got = await cocokit(argv, dir);
        assert.equal(got.out, want.out, argv.join(' '));
        assert.equal(got.err, want.err, argv.join(' '));
      },
    ),
    { numRuns: 40 },
  );
});

// A real UKI: Debian's systemd-stub (package systemd-boot-efi) plus sections added with objcopy
// (specs/measured-boot.md §2.1); --uki on it must equal systemd-measure on the section files.
const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
function realUkiMissing(): false | string {
  const missing = [
    existsSync(STUB) ? undefined : 'systemd-boot-efi',
    SYSTEMD_MEASURE !== undefined ? undefined : 'systemd',
    spawnSync('sh', ['-c', 'command -v objcopy']).status === 0 ? undefined : 'binutils',
  ].filter((x) => x !== undefined);
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') throw new Error(`building a real UKI needs the Debian packages ${missing.join(', ')} under CI=true`);
  return `needs ${missing.join(', ')}`;
}
const skipRealUki = oracleMissing() || realUkiMissing();

test('--uki on a UKI built from the Debian stub with objcopy equals systemd-measure on its section files', { skip: skipRealUki }, async () => {
  const { parsePe } = await import('../formats/pe.js');
  const stubImage = parsePe(new Uint8Array(readFileSync(STUB)));
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-real-'));
  const names = ['osrel', 'cmdline', 'initrd', 'splash', 'dtb', 'pcrpkey'];
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 1, maxLength: 20000 }),
      fc.dictionary(fc.constantFrom(...names), fc.uint8Array({ minLength: 1, maxLength: 5000 })),
      async (linux, rest) => {
        const sections: Array<[string, Uint8Array]> = [...Object.entries(rest), ['linux', linux]];
        const objcopy = [];
        // VMAs above the stub's SizeOfImage, one 64 KiB slot per section (the sizes stay below that).
        let vma = Math.ceil(stubImage.sizeOfImage / 0x10000) * 0x10000;
        for (const [name, bytes] of sections) {
          writeFileSync(join(dir, name), bytes);
          objcopy.push(`--add-section`, `.${name}=${name}`, `--change-section-vma`, `.${name}=0x${vma.toString(16)}`);
          vma += 0x10000;
        }
        const built = spawnSync('objcopy', [...objcopy, STUB, 'uki.efi'], { cwd: dir, encoding: 'utf8' });
        assert.equal(built.status, 0, built.stderr);
        const argv = ['calculate', ...sections.map(([n]) => `--${n}=${n}`), '--json=short'];
        const want = systemdMeasure(argv, dir);
        const got = await cocokit(['calculate', '--uki=uki.efi', '--json=short'], dir);
        assert.equal(got.code, 0, got.err);
        assert.equal(got.out, want.out);
      },
    ),
    { numRuns: 8 },
  );
  const { ukiSections } = await import('../measure/uki.js');
  const found = ukiSections(new Uint8Array(readFileSync(join(dir, 'uki.efi'))));
  assert.match(found.stub ?? '', /systemd-stub 252/);
  assert.ok(found.ignored.includes('.sbat') && found.ignored.includes('.text'));
});

test('--systemd=current measures the same as 252 for a UKI without the newer sections', async () => {
  const c = vectors.pe_cases.find((p) => p.id === 'pe-s02') as PeCase;
  const r = await cocokit(['calculate', `--uki=${vectorPath('uki', c.pe_file)}`, '--systemd=current', '--json=short'], process.cwd());
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(byBankAndPhase(r.out), c.expected);
});

test('--systemd=current pads a PE --linux file with zeros up to its SizeOfImage (systemd issue #34578)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-uki-pad-'));
  const kernel = readFileSync(vectorPath('uki', 'pe', 'pe-s02.efi'));
  const sizeOfImage = 20480; // pe-s02's optional header
  assert.ok(kernel.length < sizeOfImage);
  writeFileSync(join(dir, 'kernel'), kernel);
  writeFileSync(join(dir, 'padded'), Buffer.concat([kernel, Buffer.alloc(sizeOfImage - kernel.length)]));
  const current = await cocokit(['calculate', '--linux=kernel', '--systemd=current', '--json=short'], dir);
  const padded = await cocokit(['calculate', '--linux=padded', '--json=short'], dir);
  const v252 = await cocokit(['calculate', '--linux=kernel', '--json=short'], dir);
  assert.equal(current.out, padded.out);
  assert.notEqual(current.out, v252.out);
});
