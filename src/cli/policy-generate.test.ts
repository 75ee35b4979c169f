import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { vectorPath } from '../test-support/vectors.js';
import { writeLayout } from '../test-support/oci-layout.js';
import { INITDATA_ANNOTATION, agentPolicyData, decodeInitDataAnnotation, parseInitData } from '../measure/initdata.js';
import { AgentPolicy } from '../policy/agent.js';
import { agentPolicyText, extractPolicyData } from '../policy/agent-rules.js';

const GENPOLICY = vectorPath('rego', 'kata', 'genpolicy');

test('policy generate writes the sample pod back with an init-data annotation holding a working agent policy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-generate-'));
  try {
    cpSync(join(GENPOLICY, 'samples', 'pod-one-container.yaml'), join(dir, 'pod.yaml'));
    writeLayout(join(dir, 'busybox'), 'latest', { Env: ['PATH=/bin'], Cmd: ['sh'] });
    const io = bufferIO({}, dir);
    const args = ['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '--image-map', 'quay.io/prometheus/busybox:latest=oci:busybox:latest', '-v'];
    assert.equal(await run(args, io), 0, io.err());
    assert.match(io.err(), /Pod one-container: policy \d+ bytes, init-data \d+ bytes, annotation \d+ bytes/);
    const doc = parseAllDocuments(readFileSync(join(dir, 'pod.yaml'), 'utf8'))[0]!.toJS() as { metadata: { annotations: Record<string, string> } };
    const initData = parseInitData(decodeInitDataAnnotation(doc.metadata.annotations[INITDATA_ANNOTATION]!));
    const agent = new AgentPolicy(initData.data['policy.rego']!);
    assert.equal(agent.evaluate('SetPolicyRequest', {}).allowed, false);

    const raw = bufferIO({}, dir);
    assert.equal(await run([...args.slice(0, -1), '-r'], raw), 0, raw.err());
    assert.equal(raw.out(), initData.data['policy.rego']);

    const bad = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '--image-map', 'nonsense'], bad), 1);
    const unknown = bufferIO({}, dir);
    assert.notEqual(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '--offline'], unknown), 0);
    assert.match(unknown.err(), /quay\.io\/prometheus\/busybox:latest: no local copy and no registry access/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy diff: a policy naming shared fragments and the same policy written plainly show no changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-diff-'));
  try {
    writeLayout(join(dir, 'img'), '1', { Env: ['PATH=/bin'], Cmd: ['sh'] });
    const containers = Array.from({ length: 5 }, (_, i) => `{name: c${i}, image: "oci:img:1", env: [{name: MODE, value: fast}]}`).join(', ');
    writeFileSync(join(dir, 'pod.yaml'), `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [${containers}]\n`);
    const annotate = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '--policy-fragments'], annotate), 0, annotate.err());
    const gen = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '-r', '--policy-fragments'], gen), 0, gen.err());
    const policy = gen.out().slice(gen.out().indexOf('package agent_policy'));
    assert.match(policy, /^policy_fragment_1 := /m);
    writeFileSync(join(dir, 'fragments.rego'), policy);
    writeFileSync(join(dir, 'plain.rego'), agentPolicyText(extractPolicyData(policy), { fragments: false }));
    assert.doesNotMatch(readFileSync(join(dir, 'plain.rego'), 'utf8'), /policy_fragment_/);
    // Without --policy-fragments the generator writes that plain form, whose policy_data a reader of the JSON after
    // "policy_data := " (Trustee's agent_policy_claims) can take.
    const plainGen = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json'), '-r'], plainGen), 0, plainGen.err());
    assert.equal(plainGen.out(), readFileSync(join(dir, 'plain.rego'), 'utf8'));
    assert.deepEqual(agentPolicyData(plainGen.out()), extractPolicyData(policy));
    assert.equal(agentPolicyData(policy), undefined);
    for (const [a, b] of [['fragments.rego', 'plain.rego'], ['plain.rego', 'fragments.rego'], ['pod.yaml', 'plain.rego']]) {
      const io = bufferIO({}, dir);
      assert.equal(await run(['policy', 'diff', a!, b!], io), 0, io.err());
      assert.equal(io.out(), 'no changes\n', `${a} ${b}`);
    }
    // A fragment that differs is a change in every container naming it.
    writeFileSync(join(dir, 'changed.rego'), policy.replace(/^(policy_fragment_\d+ := .*)"MODE=fast"/m, '$1"MODE=slow"'));
    const changed = bufferIO({}, dir);
    assert.equal(await run(['policy', 'diff', 'fragments.rego', 'changed.rego'], changed), 1, changed.err());
    assert.equal(changed.out().match(/\+ env MODE=slow/g)?.length, 5, changed.out());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy diff reports what a re-generation changed, from policies or annotated YAML', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-diff-'));
  try {
    writeLayout(join(dir, 'img'), '1', { Env: ['PATH=/bin'], Cmd: ['sh'] });
    const pod = (env: string, image = 'oci:img:1'): string => `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: app, image: "${image}", env: [{name: MODE, value: ${env}}]}]\n`;
    writeFileSync(join(dir, 'old.yaml'), pod('fast'));
    writeFileSync(join(dir, 'new.yaml'), pod('slow'));
    const settings = join(GENPOLICY, 'genpolicy-settings.json');
    for (const f of ['old.yaml', 'new.yaml']) {
      const io = bufferIO({}, dir);
      assert.equal(await run(['policy', 'generate', '-y', f, '-j', settings], io), 0, io.err());
    }
    const io = bufferIO({}, dir);
    assert.equal(await run(['policy', 'diff', 'old.yaml', 'new.yaml'], io), 1, io.err());
    assert.equal(io.out(), '~ container app\n  - env MODE=fast\n  + env MODE=slow\n');
    const same = bufferIO({}, dir);
    assert.equal(await run(['policy', 'diff', 'old.yaml', 'old.yaml'], same), 0, same.err());
    assert.equal(same.out(), 'no changes\n');
    writeFileSync(join(dir, 'plain.yaml'), 'kind: Pod\n');
    const bad = bufferIO({}, dir);
    assert.notEqual(await run(['policy', 'diff', 'old.yaml', 'plain.yaml'], bad), 0);
    assert.match(bad.err(), /has no io\.katacontainers\.config\.hypervisor\.cc_init_data annotation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy generate: unsupported fields fail unless -s; --runtime-class-names picks pods; --initdata-path keeps the user document', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocokit-generate-flags-'));
  try {
    writeLayout(join(dir, 'img'), '1', { Env: ['PATH=/bin'], Cmd: ['sh'] });
    const pod = (name: string, extra: string, rc = 'kata-cc'): string =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  runtimeClassName: ${rc}\n${extra}  containers: [{name: app, image: "oci:img:1"}]\n`;
    const settings = join(GENPOLICY, 'genpolicy-settings.json');
    writeFileSync(join(dir, 'host.yaml'), pod('host', '  hostPID: true\n  securityContext: {sysctls: [{name: kernel.shm_rmid_forced, value: "1"}]}\n'));
    const refused = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'host.yaml', '-j', settings], refused), 4, 'an input error');
    assert.match(refused.err(), /Pod host: unsupported fields spec\.hostPID, spec\.securityContext\.sysctls .*--silent-unsupported-fields/);
    const silent = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'host.yaml', '-j', settings, '-s', '-b'], silent), 0, silent.err());
    assert.ok(silent.out().length > 100);

    writeFileSync(join(dir, 'two.yaml'), `${pod('cc', '')}---\n${pod('plain', '', 'runc')}`);
    const picked = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'two.yaml', '-j', settings, '--runtime-class-names', 'kata', 'other'], picked), 0, picked.err());
    const docs = parseAllDocuments(readFileSync(join(dir, 'two.yaml'), 'utf8')).map((d) => d.toJS() as { metadata: { annotations?: Record<string, string> } });
    assert.ok(docs[0]!.metadata.annotations?.[INITDATA_ANNOTATION], 'the kata-cc pod has a policy');
    assert.equal(docs[1]!.metadata.annotations, undefined, 'the runc pod is left alone');

    writeFileSync(join(dir, 'user.toml'), 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "https://kbs.example:8080"\n\'\'\'\n');
    writeFileSync(join(dir, 'one.yaml'), pod('one', ''));
    const merged = bufferIO({}, dir);
    assert.equal(await run(['policy', 'generate', '-y', 'one.yaml', '-j', settings, '--initdata-path', 'user.toml'], merged), 0, merged.err());
    const one = parseAllDocuments(readFileSync(join(dir, 'one.yaml'), 'utf8'))[0]!.toJS() as { metadata: { annotations: Record<string, string> } };
    const initData = parseInitData(decodeInitDataAnnotation(one.metadata.annotations[INITDATA_ANNOTATION]!));
    assert.equal(initData.algorithm, 'sha384');
    assert.equal(initData.data['aa.toml'], '[token_configs.kbs]\nurl = "https://kbs.example:8080"\n');
    assert.equal(new AgentPolicy(initData.data['policy.rego']!).evaluate('SetPolicyRequest', {}).allowed, false);

    for (const [text, msg] of [
      ['version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.rego" = "package x"\n', /already has a data\."policy\.rego" entry/],
      ['version = "0.1.0"\nalgorithm = "md5"\n', /algorithm/i],
      ['not toml = = =', /TOML/i],
    ] as const) {
      writeFileSync(join(dir, 'bad.toml'), text);
      const bad = bufferIO({}, dir);
      assert.equal(await run(['policy', 'generate', '-y', 'one.yaml', '-j', settings, '--initdata-path', 'bad.toml'], bad), 4);
      assert.match(bad.err(), msg);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
