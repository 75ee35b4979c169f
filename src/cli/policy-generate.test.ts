import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run } from './program.js';
import { bufferIO } from './io.js';
import { vectorPath } from '../test-support/vectors.js';
import { writeLayout } from '../test-support/oci-layout.js';
import { INITDATA_ANNOTATION, decodeInitDataAnnotation, parseInitData } from '../measure/initdata.js';
import { AgentPolicy } from '../policy/agent.js';

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
    assert.notEqual(await run(['policy', 'generate', '-y', 'pod.yaml', '-j', join(GENPOLICY, 'genpolicy-settings.json')], unknown), 0);
    assert.match(unknown.err(), /no local copy of quay\.io\/prometheus\/busybox:latest/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
