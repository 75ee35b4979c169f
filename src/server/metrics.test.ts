/**
 * The KBS metrics load prom-client after the server listens: what is recorded before must reach the exposition
 * exactly as if prom-client had been there from the start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { HELD_OBSERVATIONS, KbsMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics.js';

type Op =
  | { kind: 'counter'; metric: 'httpRequests' | 'authRequests' | 'resourceWrites'; by: number }
  | { kind: 'labelled'; metric: 'attestationSuccesses' | 'attestationFailures'; tee: string; by: number }
  | { kind: 'gauge'; how: 'inc' | 'dec' | 'set'; by: number }
  | { kind: 'observe'; metric: 'httpDuration' | 'requestSize' | 'responseSize'; v: number };

function apply(m: KbsMetrics, op: Op): void {
  if (op.kind === 'counter') m[op.metric].inc(op.by);
  else if (op.kind === 'labelled') m[op.metric].labels(op.tee).inc(op.by);
  else if (op.kind === 'gauge') {
    if (op.how === 'set') m.activeConnections.set(op.by);
    else m.activeConnections[op.how](op.by);
  } else m[op.metric].observe(op.v);
}

const amount = fc.integer({ min: 0, max: 1000 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('counter' as const), metric: fc.constantFrom('httpRequests' as const, 'authRequests' as const, 'resourceWrites' as const), by: amount }),
  fc.record({ kind: fc.constant('labelled' as const), metric: fc.constantFrom('attestationSuccesses' as const, 'attestationFailures' as const), tee: fc.constantFrom('snp', 'tdx', 'sample'), by: amount }),
  fc.record({ kind: fc.constant('gauge' as const), how: fc.constantFrom('inc' as const, 'dec' as const, 'set' as const), by: amount }),
  fc.record({ kind: fc.constant('observe' as const), metric: fc.constantFrom('httpDuration' as const, 'requestSize' as const, 'responseSize' as const), v: fc.double({ min: 0, max: 10_000, noNaN: true }) }),
);

test('updates made before prom-client loads are exposed as if it had been loaded first', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 60 }), fc.nat(), async (ops, at) => {
      const split = ops.length === 0 ? 0 : at % (ops.length + 1);
      const late = new KbsMetrics('1.2.3');
      for (const o of ops.slice(0, split)) apply(late, o);
      await late.load();
      for (const o of ops.slice(split)) apply(late, o);
      const early = new KbsMetrics('1.2.3');
      await early.load();
      for (const o of ops) apply(early, o);
      assert.equal(await late.registry.metrics(), await early.registry.metrics());
    }),
    { numRuns: 150 },
  );
});

test('the exposition carries every metric with Trustee names, the build info and prom-client content type', async () => {
  const m = new KbsMetrics('9.9.9');
  m.attestationSuccesses.labels('snp').inc();
  m.httpDuration.observe(0.002);
  const text = await m.registry.metrics();
  assert.equal(m.registry.contentType, Registry.PROMETHEUS_CONTENT_TYPE);
  assert.equal(PROMETHEUS_CONTENT_TYPE, Registry.PROMETHEUS_CONTENT_TYPE);
  for (const name of ['kbs_http_requests_total', 'kbs_http_request_duration_seconds', 'kbs_http_active_connections', 'kbs_policy_evaluations_total', 'kbs_auth_rate_limited_total']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
  }
  assert.match(text, /^kbs_build_info\{version="9\.9\.9",git_hash="unknown",build_date="unknown"\} 1$/m);
  assert.match(text, /^kbs_attestation_successes_total\{tee_type="snp"\} 1$/m);
  assert.match(text, /^kbs_http_request_duration_seconds_bucket\{le="0\.005"\} 1$/m);
  assert.match(text, /^kbs_http_request_duration_seconds_count 1$/m);
});

test('a histogram holds a bounded number of observations until prom-client loads', async () => {
  const m = new KbsMetrics('1');
  for (let i = 0; i < HELD_OBSERVATIONS + 100; i++) m.requestSize.observe(1);
  await m.load();
  m.requestSize.observe(1);
  assert.match(await m.registry.metrics(), new RegExp(`^kbs_http_request_size_bytes_count ${HELD_OBSERVATIONS + 1}$`, 'm'));
});

test('load() makes the metrics once', async () => {
  const m = new KbsMetrics('1');
  const [a, b] = await Promise.all([m.load(), m.load()]);
  assert.equal(a, b);
  m.resourceReads.inc(2);
  assert.match(await a.metrics(), /^kbs_resource_reads_total 2$/m);
});
