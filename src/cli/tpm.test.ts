import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolMissing, readVector, readVectorJson, vectorPath } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';
import { parseEventLog } from '../eventlog/index.js';
import { loggedEvents } from '../measure/explain-events.js';
import { referenceValuesFromArtifacts } from '../measure/from-artifacts.js';

const cases = readVectorJson('tpm', 'cases.json').cases as any[];
const q = (p: string) => vectorPath('tpm', p);

function cli(argv: string[]): Promise<CliRun> {
  return runCli(argv);
}
const checkquoteArgs = (c: any) => ['-u', q(c.ak_files.tpm2b_public), '-m', q(c.files.attest), '-s', q(c.files.signature_tss), '-f', q(c.files.pcrs_serialized), '-g', 'sha256'];
// The vectors' verifier nonce for t02 differs from the qualification the quote was made with.
const nonceOf = (c: any) => (c.tamper?.kind === 'wrong-nonce' ? 'c0c1c2c3c4c5c6c7' : c.nonce);

for (const c of cases) {
  test(`tpm checkquote gives ${c.id} its verdict (${c.valid ? 'valid' : c.tamper.kind})`, async () => {
    const r = await cli(['tpm', 'checkquote', ...checkquoteArgs(c), '-q', nonceOf(c), '--json']);
    const out = JSON.parse(r.out);
    const valid = c.valid;
    assert.equal(out.valid, valid, r.out + r.err);
    assert.equal(r.code, valid ? 0 : 1);
    if (!valid) assert.equal(out.checks.find((x: any) => !x.ok).id, { 'flip-attest-byte': 'signature', 'wrong-nonce': 'nonce', 'wrong-pcr-values': 'pcr-digest' }[c.tamper.kind as string]);
  });
}

test('tpm checkquote -f -l reads bare PCR values; an altered value fails pcr-digest (t03)', async () => {
  const c = cases.find((x) => x.id === 't03');
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tpm-'));
  try {
    const values = Buffer.concat(['4', '11'].map((i) => Buffer.from(c.expected_pcrs.sha256[i], 'hex')));
    writeFileSync(join(dir, 'values'), values);
    const r = await cli(['tpm', 'checkquote', '-u', q(c.ak_files.pem), '-m', q(c.files.attest), '-s', q(c.files.signature_tss), '-f', join(dir, 'values'), '-l', 'sha256:4,11', '-q', c.nonce, '--explain']);
    assert.equal(r.code, 1);
    assert.match(r.err, /ERROR: pcr-digest/);
    assert.match(r.out, /FAIL pcr-digest/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tpm checkquote verifies plain signatures, and replays an event log against the quoted PCRs', async () => {
  for (const c of cases.filter((x) => x.valid)) {
    // A plain RSA signature's scheme comes from the AK's public area (a PEM key means RSASSA, as for tpm2_checkquote).
    const key = c.ak === 'ak-rsapss' ? c.ak_files.tpm2b_public : c.ak_files.pem;
    const r = await cli(['tpm', 'checkquote', '-u', q(key), '-m', q(c.files.attest_for_plain_signature), '-s', q(c.files.signature_plain), '-F', 'plain', '-q', c.nonce]);
    assert.equal(r.code, 0, `${c.id}: ${r.err}`);
  }
  const q02 = cases.find((x) => x.id === 'q02');
  const ok = await cli(['tpm', 'checkquote', ...checkquoteArgs(q02), '-q', q02.nonce, '-e', q('eventlog.bin'), '--json']);
  assert.equal(JSON.parse(ok.out).checks.at(-1).id, 'eventlog');
  assert.equal(ok.code, 0, ok.out);
  // A log from another machine does not replay to these PCRs.
  const bad = await cli(['tpm', 'checkquote', ...checkquoteArgs(q02), '-q', q02.nonce, '-e', q('eventlogs/event-sd-boot-fedora37.bin')]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /ERROR: eventlog: the event log does not replay to sha256:0/);
});

test('tpm checkquote --reference-provenance names the first PCR 11 event that differs from what a UKI predicts', async () => {
  const q02 = cases.find((x) => x.id === 'q02');
  const ukiCase = readVectorJson<{ pe_cases: { pe_file: string }[] }>('uki', 'cases.json').pe_cases[0];
  const computed = await referenceValuesFromArtifacts({ uki: new Uint8Array(readVector('uki', ukiCase.pe_file)) });
  const predicted = computed.provenance.tpm_pcr11.events!;
  const logged = loggedEvents(parseEventLog(new Uint8Array(readVector('tpm', 'eventlog.bin'))), 11, 'sha256');
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tpm-'));
  try {
    // The record as `kbs config get-reference-value NAME --provenance` prints it.
    const record = join(dir, 'record.json');
    writeFileSync(record, JSON.stringify({ name: 'tpm_pcr11', value: [computed.values.tpm_pcr11], provenance: { ...computed.provenance.tpm_pcr11, registered_by: 'role=admin', registered_at: '2026-01-01T00:00:00.000Z', version: 1 } }));
    const args = [...checkquoteArgs(q02), '-q', q02.nonce, '-e', q('eventlog.bin'), '--reference-provenance', record];
    const r = await cli(['tpm', 'checkquote', ...args, '--explain']);
    assert.equal(r.code, 1, r.err);
    const sentence = `PCR 11 event 2 (.linux section) differs: expected sha256 ${predicted.events[1].digest}, measured ${logged[1].digest}`;
    assert.ok(r.err.includes(`ERROR: reference-events: ${sentence}`), r.err);
    assert.match(r.out, /FAIL reference-events/);
    assert.ok(r.out.includes(sentence), r.out);
    // The quote itself is fine: only the reference check fails.
    const json = JSON.parse((await cli(['tpm', 'checkquote', ...args, '--json'])).out);
    assert.deepEqual(json.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { id: string }) => c.id), ['reference-events']);
    // A bare provenance whose events are the log's own: the check passes.
    writeFileSync(record, JSON.stringify({ algorithm: 'uki-pcr11', events: { register: 'PCR 11', bank: 'sha256', events: logged.map((e, i) => ({ description: `event ${i + 1}`, digest: e.digest })) } }));
    const ok = await cli(['tpm', 'checkquote', ...args, '--explain']);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /ok {3}reference-events|ok\s+reference-events/);
    // Without a log there is nothing to replay; a record without events, or with an RTMR's, is a usage error.
    const nolog = await cli(['tpm', 'checkquote', ...checkquoteArgs(q02), '-q', q02.nonce, '--reference-provenance', record]);
    assert.equal(nolog.code, 1);
    assert.match(nolog.err, /reference-events: no event log to replay/);
    for (const bad of [{ algorithm: 'snp-launch-digest' }, { events: { register: 'RTMR1', bank: 'sha384', events: [] } }, 'not json']) {
      writeFileSync(record, typeof bad === 'string' ? bad : JSON.stringify(bad));
      const r2 = await cli(['tpm', 'checkquote', ...args]);
      assert.notEqual(r2.code, 0);
      assert.match(r2.err, /^error\[(CLI_USAGE|FORMAT_JSON)\]/m, r2.err);
      assert.doesNotMatch(r2.err, /reference-events/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tpm checkquote without -q expects empty qualifying data, like tpm2_checkquote', async () => {
  const c = cases.find((x) => x.id === 'q01');
  const r = await cli(['tpm', 'checkquote', ...checkquoteArgs(c)]);
  assert.equal(r.code, 1);
  assert.match(r.err, /ERROR: nonce/);
});

test('tpm checkquote prints what tpm2_checkquote prints and exits as it does, except on libtpms RSA-PSS quotes', { skip: toolMissing('tpm2_checkquote') }, async () => {
  for (const c of cases) {
    const args = [...checkquoteArgs(c), '-q', nonceOf(c)];
    const oracle = spawnSync('tpm2_checkquote', args, { encoding: 'utf8' });
    const ours = await cli(['tpm', 'checkquote', ...args]);
    if (c.id === 'q03') {
      // tpm2-tools 5.4 expects the maximum PSS salt; libtpms uses salt = digest length (specs/measured-boot.md §3.3).
      assert.deepEqual([oracle.status, ours.code], [1, 0]);
      continue;
    }
    assert.equal(ours.code, oracle.status, `${c.id}: ${ours.err} / ${oracle.stderr}`);
    if (oracle.status === 0) assert.equal(ours.out, oracle.stdout, c.id);
  }
});

test('tpm eventlog prints byte for byte what tpm2_eventlog prints, except where tpm2_eventlog 5.4 is wrong', { skip: toolMissing('tpm2_eventlog') }, async () => {
  // The swtpm quotes made after extending eventlog.bin hold PCR 4 in sha256 (q01) and sha1 (q04).
  const quoted4 = (id: string, bank: string) => `    4  : 0x${cases.find((x) => x.id === id).expected_pcrs[bank]['4']}`;
  // Lines where tpm2_eventlog 5.4 is wrong, each with what cocokit must print instead.
  const exceptions: Record<string, Map<string, string>> = {
    // tpm2_eventlog 5.4 replays PCR 4 of this swtpm log to a value the TPM never held; the quotes made by the
    // swtpm the log was extended into hold the values cocokit replays (no quote covers sha384 PCR 4, so that
    // line is only required to differ from tpm2_eventlog's, as the same events feed every bank).
    'eventlog.bin': new Map([
      ['pcrs.sha1.4', quoted4('q04', 'sha1')],
      ['pcrs.sha256.4', quoted4('q01', 'sha256')],
      ['pcrs.sha384.4', ''],
    ]),
    // The EV_S_CRTM_CONTENTS event is the string "Boot Guard Measured S-CRTM\0" (27 bytes); tpm2_eventlog 5.4
    // reads its first 16 bytes as a UEFI_PLATFORM_FIRMWARE_BLOB. cocokit prints the bytes as hex.
    crypto_agile_eventlog: new Map([['event 1', `  Event: "${Buffer.from('Boot Guard Measured S-CRTM\0').toString('hex')}"`]]),
  };
  for (const f of ['eventlog.bin', 'eventlogs/event-sd-boot-fedora37.bin', 'eventlogs/event-gce-ubuntu-2104-log.bin', 'eventlogs/crypto_agile_eventlog', 'eventlogs/ebs_event_missing_eventlog', 'eventlogs/event-uefi-sha1-log.bin']) {
    const path = q(f);
    const oracle = spawnSync('tpm2_eventlog', [path], { encoding: 'utf8' });
    assert.equal(oracle.status, 0, oracle.stderr);
    const r = await cli(['tpm', 'eventlog', path]);
    assert.equal(r.code, 0, r.err);
    const name = f.replace(/^eventlogs\//, '');
    const allowed = exceptions[name];
    if (allowed === undefined) {
      assert.equal(r.out, oracle.stdout, f);
      continue;
    }
    // Compare line by line outside the exceptions: the same line count, the same text elsewhere.
    const theirs = oracle.stdout.split('\n');
    const ours = r.out.split('\n');
    const used = new Set<string>();
    let k = 0;
    let where = '';
    for (let i = 0; i < theirs.length; i++, k++) {
      const t = theirs[i];
      const bank = /^ {2}(\w+):$/.exec(t);
      const ev = /^- EventNum: (\d+)$/.exec(t);
      if (ev) where = `event ${ev[1]}`;
      else if (t === 'pcrs:') where = 'pcrs';
      else if (bank && where.startsWith('pcrs')) where = `pcrs.${bank[1]}`;
      const pcr = /^ {4}(\d+) +: /.exec(t);
      const key = pcr && where.startsWith('pcrs.') ? `${where}.${pcr[1]}` : where;
      const expected = allowed.get(key);
      if (expected !== undefined && (pcr || t.startsWith('  Event:'))) {
        used.add(key);
        if (expected === '') assert.notEqual(ours[k], t, `${f} ${key}`);
        else assert.equal(ours[k], expected, `${f} ${key}`);
        // tpm2_eventlog's misread blob spans three lines where cocokit prints one.
        if (t === '  Event:') i += 2;
        continue;
      }
      assert.equal(ours[k], t, `${f} line ${i + 1}`);
    }
    assert.equal(k, ours.length, `${f}: cocokit prints more lines`);
    assert.deepEqual([...used].sort(), [...allowed.keys()].sort(), `${f}: every documented exception occurs`);
  }
});

test('tpm eventlog --replay, --json and --compare name the first divergent event', async () => {
  const replay = await cli(['tpm', 'eventlog', q('eventlog.bin'), '--replay']);
  assert.match(replay.out, /^ {2}sha1:\n {4}0 : 0x273DFD4FCF4B63486DBC747BC56748E14769B2D4\n/);
  const json = JSON.parse((await cli(['tpm', 'eventlog', q('eventlog.bin'), '--json'])).out);
  assert.equal(json.format, 'crypto-agile');
  assert.equal(json.events[3].decoded.unicodeName, 'SecureBoot');
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tpm-'));
  try {
    // The swtpm's PCRs, as tpm2_pcrread prints them, with the sha256 PCR 7 changed.
    const pcrs = readVectorJson('tpm', 'cases.json').tpm_pcrs;
    const text = (bank: string, p7?: string) => `  ${bank}:\n${Object.entries<string>(pcrs[bank]).map(([i, v]) => `    ${i} : 0x${i === '7' && p7 ? p7 : v}\n`).join('')}`;
    writeFileSync(join(dir, 'good'), text('sha256'));
    writeFileSync(join(dir, 'bad'), text('sha256', '00'.repeat(32)));
    assert.equal((await cli(['tpm', 'eventlog', q('eventlog.bin'), '--compare', join(dir, 'good')])).code, 0);
    const bad = await cli(['tpm', 'eventlog', q('eventlog.bin'), '--compare', join(dir, 'bad'), '--json']);
    assert.equal(bad.code, 5);
    const out = JSON.parse(bad.out);
    assert.deepEqual(out.registers.filter((r: any) => !r.ok).map((r: any) => r.pcr), [7]);
    // Serialized PCR files work as the reference too.
    assert.equal((await cli(['tpm', 'eventlog', q('eventlog.bin'), '--compare', q('quotes/q01.pcrs')])).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const garbage = await cli(['tpm', 'eventlog', q('quotes/q01.sig')]);
  assert.equal(garbage.code, 4);
  assert.match(garbage.err, /error\[EVENTLOG_FORMAT\]/);
});

test('tpm quote and pcrread against a real swtpm write files that tpm checkquote and tpm2_checkquote accept', { skip: toolMissing('swtpm'), timeout: 120_000 }, async () => {
  const { startSwtpm } = await import('../test-support/swtpm.js');
  const tpm = await startSwtpm();
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-tpm-'));
  try {
    const read = await cli(['tpm', 'pcrread', 'sha256:0,7,11', '-T', tpm.tcti]);
    assert.equal(read.code, 0, read.err);
    assert.equal(read.out, `  sha256:\n${[0, 7, 11].map((i) => `    ${String(i).padEnd(2)}: 0x${'00'.repeat(32)}\n`).join('')}`);
    // A "boot": the synthetic log extended into the TPM, then init-data into PCR 8; the log replays to the TPM.
    const ext = await cli(['tpm', 'extend', '-T', tpm.tcti, '--eventlog', q('eventlog.bin'), `8:sha256=${'ab'.repeat(32)}`]);
    assert.equal(ext.code, 0, ext.err);
    writeFileSync(join(dir, 'booted.pcrs'), (await cli(['tpm', 'pcrread', 'sha256:0,1,2,3,4,5,6,7,11,12+sha1:0,7', '-T', tpm.tcti])).out);
    assert.equal((await cli(['tpm', 'eventlog', q('eventlog.bin'), '--compare', join(dir, 'booted.pcrs')])).code, 0);
    const pcr8 = (await cli(['tpm', 'pcrread', 'sha256:8', '-T', tpm.tcti, '--json'])).out;
    assert.equal(JSON.parse(pcr8).sha256['8'], createHash('sha256').update(Buffer.alloc(32)).update(Buffer.alloc(32, 0xab)).digest('hex'));
    for (const bad of ['8:sha256=ab', '24:sha256=' + 'ab'.repeat(32), '8:md5=' + 'ab'.repeat(16)]) assert.equal((await cli(['tpm', 'extend', '-T', tpm.tcti, bad])).code, 1, bad);
    // The AK `tpm ak` prints is the one the tpm attester quotes with.
    const ak = (await cli(['tpm', 'ak', '-T', tpm.tcti])).out.trim();
    const { TpmAttester } = await import('../tee/tpm/attester.js');
    assert.equal(((await new TpmAttester({ tcti: tpm.tcti }).getEvidence(new Uint8Array(32))) as { ak_public: string }).ak_public, ak);
    for (const kind of ['rsa', 'ecc256', 'rsapss']) {
      const f = (n: string) => join(dir, `${kind}.${n}`);
      const r = await cli(['tpm', 'quote', '-T', tpm.tcti, '-l', 'sha256:0,7,11+sha1:0', '-G', kind, '-q', 'abcdef0123', '-m', f('msg'), '-s', f('sig'), '-o', f('pcrs'), '-u', f('pub')]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^quoted: ff544347/);
      const args = ['-u', f('pub'), '-m', f('msg'), '-s', f('sig'), '-f', f('pcrs'), '-q', 'abcdef0123'];
      const ours = await cli(['tpm', 'checkquote', ...args]);
      assert.equal(ours.code, 0, `${kind}: ${ours.err}`);
      assert.equal((await cli(['tpm', 'checkquote', ...args.slice(0, -1), 'abcdef0124'])).code, 1);
      if (kind !== 'rsapss' && !toolMissing('tpm2_checkquote')) {
        const oracle = spawnSync('tpm2_checkquote', args, { encoding: 'utf8' });
        assert.equal(oracle.status, 0, `${kind}: ${oracle.stderr}`);
        assert.equal(ours.out, oracle.stdout);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await tpm.stop();
  }
});
