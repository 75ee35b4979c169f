import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferIO } from './io.js';
import { startServe } from './kbs-serve.js';
import { DEMO_RESOURCE } from '../server/development.js';
import { startKbs, type Harness } from '../server/test-harness.js';
import { KbsClient } from '../client/kbs-client.js';
import { SampleAttester } from '../tee/sample/attester.js';
import { readVector } from '../test-support/vectors.js';
import { runCli, type CliRun } from '../test-support/cli-run.js';

let h: Harness;
let dir: string;
before(async () => {
  h = await startKbs();
  dir = mkdtempSync(join(tmpdir(), 'cocokit-kbs-cli-'));
  writeFileSync(join(dir, 'admin.pem'), h.adminKeyPem);
});
after(async () => {
  await h.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...argv: string[]): Promise<CliRun> {
  return runCli(argv, { cwd: dir });
}

test('kbs config set-resource then kbs get-resource returns the bytes, for every --tee-key-alg', async () => {
  writeFileSync(join(dir, 'secret.bin'), Buffer.from([0, 1, 2, 255, 10]));
  const set = await cli('kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'set-resource', '--path', 'default/key/bin', '--resource-file', 'secret.bin');
  assert.equal(set.code, 0, set.err);
  for (const alg of ['ec-p256', 'ec-p521', 'rsa']) {
    const r = await cli('kbs', 'get-resource', '--url', h.url, '--path', 'default/key/bin', '--tee-key-alg', alg);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual([...r.bytes], [0, 1, 2, 255, 10]);
  }
  // An older, world-readable file at --out is narrowed before the secret is written into it.
  writeFileSync(join(dir, 'got.bin'), 'old', { mode: 0o644 });
  chmodSync(join(dir, 'got.bin'), 0o644);
  const out = await cli('kbs', 'get-resource', '--url', h.url, '--path', 'kbs:///default/key/bin', '--out', 'got.bin');
  assert.equal(out.code, 0, out.err);
  assert.deepEqual([...readFileSync(join(dir, 'got.bin'))], [0, 1, 2, 255, 10]);
  assert.equal(statSync(join(dir, 'got.bin')).mode & 0o777, 0o600);
  const list = await cli('kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem', 'list-resources');
  assert.match(list.out, /default\/key\/bin/);
});

test('admin sets a resource policy that denies one path; the denied path is refused with the reason', async () => {
  writeFileSync(join(dir, 'v.txt'), 'visible');
  writeFileSync(
    join(dir, 'deny.rego'),
    'package policy\n\ndefault allow := false\n\nallow if {\n\tdata.plugin == "resource"\n\tdata["resource-path"][2] != "denied"\n}\n',
  );
  const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem'];
  assert.equal((await cli(...admin, 'set-resource', '--path', 'default/key/denied', '--resource-file', 'v.txt')).code, 0);
  assert.equal((await cli(...admin, 'set-resource', '--path', 'default/key/allowed', '--resource-file', 'v.txt')).code, 0);
  assert.equal((await cli(...admin, 'set-resource-policy', '--policy-file', 'deny.rego')).code, 0);
  assert.equal((await cli(...admin, 'get-resource-policy', '--ids')).out.trim(), '["resource-policy"]');
  const ok = await cli('kbs', 'get-resource', '--url', h.url, '--path', 'default/key/allowed');
  assert.equal(ok.out, 'visible');
  const denied = await cli('kbs', 'get-resource', '--url', h.url, '--path', 'default/key/denied');
  assert.equal(denied.code, 6, denied.err);
  assert.match(denied.err, /PolicyDeny.*resource policy denied default\/key\/denied/);
});

test('kbs config set-reference-value stores arrays unless --as-single-value, typed by flag', async () => {
  const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem'];
  assert.equal((await cli(...admin, 'set-reference-value', 'svn', '1')).code, 0);
  assert.equal((await cli(...admin, 'set-sample-reference-value', 'major_version', '1', '--as-integer', '--as-single-value')).code, 0);
  assert.equal((await cli(...admin, 'get-reference-value', 'svn')).out.trim(), '["1"]');
  assert.equal((await cli(...admin, 'get-reference-value', 'major_version')).out.trim(), '1');
  const missing = await cli(...admin, 'get-reference-value', 'nope');
  assert.notEqual(missing.code, 0);
});

test('kbs keygen writes a key pair that the KBS accepts and refuses to overwrite it', async () => {
  const k = await cli('kbs', 'keygen', '--out-dir', 'keys', '--alg', 'es256');
  assert.equal(k.code, 0, k.err);
  assert.match(k.out, /authorization_mode = "AuthenticatedAuthorization"/);
  assert.ok(existsSync(join(dir, 'keys', 'admin-key.pem')));
  assert.equal(statSync(join(dir, 'keys', 'admin-key.pem')).mode & 0o777, 0o600);
  assert.notEqual((await cli('kbs', 'keygen', '--out-dir', 'keys')).code, 0);
  // A key the server does not know is refused.
  const r = await cli('kbs', 'config', '--url', h.url, '--auth-private-key', 'keys/admin-key.pem', 'list-resources');
  assert.equal(r.code, 7, r.err);
});

test('zero-config serve starts in development mode, seeds a demo secret and prints the command that fetches it', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-kbs-serve-'));
  const io = bufferIO({ COCOKIT_LOG_LEVEL: 'silent', COCOKIT_CLI: 'cocokit' }, dataDir);
  const { kbs } = await startServe({ port: '0', dataDir }, io);
  try {
    const banner = io.out();
    assert.match(banner, /DEVELOPMENT MODE/);
    const cmd = /^ {2}cocokit (kbs get-resource .*)$/m.exec(banner);
    assert.ok(cmd, banner);
    assert.ok(cmd[1].includes(`--path ${DEMO_RESOURCE}`));
    const r = await cli(...cmd[1].split(' '));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Hello from cocokit/);
    assert.match(banner, /admin key: .*admin-key\.pem/);
    // The seeded sample reference values make the default_cpu policy affirm the sample TEE.
    const url = /listening on (\S+)/.exec(banner)![1];
    const { token } = await new KbsClient(url, new SampleAttester()).attest();
    assert.equal(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).submods.cpu0['ear.status'], 'affirming');
  } finally {
    await kbs.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the banner warns when the key-encryption key sits beside the database, and not when it is elsewhere', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cocokit-kbs-kek-'));
  try {
    const dataDir = join(root, 'data');
    const beside = bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, root);
    const first = await startServe({ port: '0', dataDir }, beside);
    await first.kbs.close();
    assert.match(beside.out(), new RegExp(`WARNING: the key-encryption key ${join(dataDir, 'kek')} sits in the data directory`));
    assert.match(beside.out(), /COCOKIT_KBS_KEK_FILE/);
    for (const f of ['kek', 'cocokit.db', 'admin-key.pem']) assert.equal(statSync(join(dataDir, f)).mode & 0o777, 0o600, f);
    const keys = join(root, 'keys');
    mkdirSync(keys);
    writeFileSync(join(keys, 'kek'), readFileSync(join(dataDir, 'kek')), { mode: 0o600 });
    const apart = bufferIO({ COCOKIT_LOG_LEVEL: 'silent', COCOKIT_KBS_KEK_FILE: join(keys, 'kek') }, root);
    const second = await startServe({ port: '0', dataDir }, apart);
    await second.kbs.close();
    assert.match(apart.out(), /listening on/);
    assert.doesNotMatch(apart.out(), /key-encryption key/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a config file without allow_sample_tee refuses the sample TEE', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cocokit-kbs-prod-'));
  writeFileSync(join(dataDir, 'kbs.toml'), `[http_server]\nsockets = ["127.0.0.1:0"]\ninsecure_http = true\n[storage_backend]\ndata_dir = "${dataDir}"\n`);
  const io = bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, dataDir);
  const { kbs, url } = await startServe({ config: 'kbs.toml' }, io);
  try {
    assert.doesNotMatch(io.out(), /DEVELOPMENT MODE/);
    const r = await cli('kbs', 'get-resource', '--url', url, '--path', 'default/key/x');
    assert.equal(r.code, 7);
    assert.match(r.err, /tee "sample" is not enabled/);
  } finally {
    await kbs.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("kbs-client habits: --url before the subcommand, get-resource-policy prints the Rego, attest prints the EAR token", async () => {
  const policy = 'package policy\n\ndefault allow := false\n\nallow if data.plugin == "resource"\n';
  writeFileSync(join(dir, 'habit.rego'), policy);
  const set = await cli('kbs', '--url', h.url, 'config', '--auth-private-key', 'admin.pem', 'set-resource-policy', '--policy-file', 'habit.rego');
  assert.equal(set.code, 0, set.err);
  const got = await cli('kbs', '--url', h.url, 'config', '--auth-private-key', 'admin.pem', 'get-resource-policy');
  assert.equal(got.code, 0, got.err);
  assert.equal(got.out, policy);
  writeFileSync(join(dir, 'habit.txt'), 'habit');
  assert.equal((await cli('kbs', '--url', h.url, 'config', '--auth-private-key', 'admin.pem', 'set-resource', '--path', 'default/key/habit', '--resource-file', 'habit.txt')).code, 0);
  const fetched = await cli('kbs', '--url', h.url, 'get-resource', '--path', 'default/key/habit');
  assert.equal(fetched.code, 0, fetched.err);
  assert.equal(Buffer.from(fetched.bytes).toString(), 'habit');

  const att = await cli('kbs', '--url', h.url, 'attest');
  assert.equal(att.code, 0, att.err);
  const token = att.out.trim();
  assert.equal(token.split('.').length, 3);
  const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
  assert.ok(header.alg);
  assert.equal(payload.eat_profile, 'tag:github.com,2024:confidential-containers/Trustee');
  assert.ok(payload.submods?.cpu0, JSON.stringify(payload));
});

test('set-resource and delete-resource check the path locally, like get-resource, before any request', async () => {
  writeFileSync(join(dir, 'x.txt'), 'x');
  for (const argv of [
    ['config', '--auth-private-key', 'admin.pem', 'set-resource', '--path', 'default/key', '--resource-file', 'x.txt'],
    ['config', '--auth-private-key', 'admin.pem', 'set-resource', '--path', 'default/../etc', '--resource-file', 'x.txt'],
    ['config', '--auth-private-key', 'admin.pem', 'delete-resource', '--path', 'a/b/c/d'],
    ['get-resource', '--path', 'default/key/.hidden'],
  ]) {
    // An unreachable URL: exit 1 (usage), not 12, shows no request was made.
    const r = await cli('kbs', '--url', 'http://127.0.0.1:1', ...argv);
    assert.equal(r.code, 1, `${argv.join(' ')}: ${r.err}`);
    assert.match(r.err, /KBS_CLIENT_PATH/);
  }
});

test('krun register against a KBS without the reference-kbs dialect names the config that enables it', async () => {
  writeFileSync(join(dir, 'disk.img'), readVector('keybroker', 'footer', 'disk_img_with_footer_example.bin'));
  writeFileSync(join(dir, 'pass'), 'p\n');
  for (const url of [h.url, `${h.url}/reference-kbs`]) {
    const r = await cli('krun', 'register', 'disk.img', '--url', url, '--passphrase-file', 'pass', '--measurement', 'ab'.repeat(48));
    assert.equal(r.code, 8, r.err);
    assert.match(r.err, /\[workloads\.reference_kbs\] enabled = true/);
    assert.match(r.err, /--url <kbs>\/reference-kbs/);
  }
});

test('kbs serve takes a Trustee-layout config as is and lists what it mapped in the banner', async () => {
  const d = mkdtempSync(join(tmpdir(), 'cocokit-trustee-serve-'));
  try {
    writeFileSync(
      join(d, 'kbs-config.toml'),
      `[http_server]\nsockets = ["127.0.0.1:0"]\ninsecure_http = true\n[attestation_token]\ninsecure_header_jwk = true\n[attestation_service]\ntype = "coco_as_builtin"\n[attestation_service.attestation_token_broker]\nduration_min = 5\n[attestation_service.rvps_config]\ntype = "BuiltIn"\n[admin]\ntype = "InsecureAllowAll"\n[storage_backend]\nstorage_type = "LocalFs"\n[storage_backend.backends.local_fs]\ndir_path = "${join(d, 'storage')}"\n[[plugins]]\nname = "resource"\nstorage_backend_type = "kvstorage"\n`,
    );
    const io = bufferIO({ COCOKIT_LOG_LEVEL: 'silent' }, d);
    const { kbs, url } = await startServe({ config: 'kbs-config.toml' }, io);
    try {
      assert.match(io.out(), /store: SQLite in .*storage/);
      assert.match(io.out(), /config: storage_backend\.storage_type "LocalFs" is served by the encrypted SQLite store/);
      assert.ok(existsSync(join(d, 'storage', 'cocokit.db')));
      // InsecureAllowAll, as the file says: the admin API takes no token.
      writeFileSync(join(d, 'v.txt'), 'v');
      const set = await cli('kbs', '--url', url, 'config', 'set-resource', '--path', 'default/key/t', '--resource-file', join(d, 'v.txt'));
      assert.equal(set.code, 0, set.err);
    } finally {
      await kbs.close();
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('set-resource-policy and set-attestation-policy --v0 store Rego v0 policies, which then decide', async () => {
  const admin = ['kbs', 'config', '--url', h.url, '--auth-private-key', 'admin.pem'];
  writeFileSync(join(dir, 'v0-resource.rego'), 'package policy\n\ndefault allow = false\n\nallow {\n\tdata["resource-path"][2] == "v0ok"\n}\n');
  writeFileSync(
    join(dir, 'v0-attestation.rego'),
    'package policy\n\ndefault executables = 33\n\nexecutables = 3 { input.sample }\n\ntrust_claims = {"executables": executables, "hardware": 2}\n',
  );
  writeFileSync(join(dir, 'v.txt'), 'v0 secret');
  assert.equal((await cli(...admin, 'set-resource', '--path', 'default/key/v0ok', '--resource-file', 'v.txt')).code, 0);
  assert.equal((await cli(...admin, 'set-resource', '--path', 'default/key/v0no', '--resource-file', 'v.txt')).code, 0);
  // As Rego v1 these do not parse, and the KBS refuses them.
  const refused = await cli(...admin, 'set-resource-policy', '--policy-file', 'v0-resource.rego');
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /resource policy does not compile/);
  assert.notEqual((await cli(...admin, 'set-attestation-policy', '--policy-file', 'v0-attestation.rego')).code, 0);
  try {
    const set = await cli(...admin, 'set-resource-policy', '--v0', '--policy-file', 'v0-resource.rego');
    assert.equal(set.code, 0, set.err);
    assert.equal((await cli(...admin, 'set-attestation-policy', '--v0', '--policy-file', 'v0-attestation.rego', '--id', 'default_cpu')).code, 0);
    assert.equal((await cli('kbs', 'get-resource', '--url', h.url, '--path', 'default/key/v0ok')).out, 'v0 secret');
    assert.equal((await cli('kbs', 'get-resource', '--url', h.url, '--path', 'default/key/v0no')).code, 6);
    const { token } = await new KbsClient(h.url, new SampleAttester()).attest();
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).submods.cpu0['ear.trustworthiness-vector'].executables, 3);
  } finally {
    writeFileSync(join(dir, 'allow.rego'), 'package policy\n\nallow if true\n');
    await cli(...admin, 'set-resource-policy', '--policy-file', 'allow.rego');
  }
});
