/**
 * The server's own Prometheus exposition against prom-client, the reference implementation of the text
 * format: the same metrics, fed the same updates, must expose the same text byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as prom from 'prom-client';
import { Counter, Gauge, Histogram, KbsMetrics, PROMETHEUS_CONTENT_TYPE, Registry } from './metrics.js';

type Op =
  | { kind: 'inc'; metric: number; by: number }
  | { kind: 'incLabel'; metric: number; label: string; by: number }
  | { kind: 'gauge'; how: 'inc' | 'dec' | 'set'; by: number }
  | { kind: 'observe'; v: number };

const BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.5, 1];
const HELP = 'Help with a \\ backslash,\na newline and "quotes".';

/** The same metrics built on either implementation. */
function build<R, C, G, H>(impl: {
  registry: () => R;
  counter: (o: { name: string; help: string; labelNames?: string[]; registers: R[] }) => C;
  gauge: (o: { name: string; help: string; labelNames?: string[]; registers: R[] }) => G;
  histogram: (o: { name: string; help: string; buckets: number[]; registers: R[] }) => H;
}) {
  const r = impl.registry();
  return {
    registry: r,
    counters: [impl.counter({ name: 'plain_total', help: HELP, registers: [r] }), impl.counter({ name: 'other_total', help: 'Other.', registers: [r] })],
    labelled: [impl.counter({ name: 'by_tee_total', help: 'By TEE.', labelNames: ['tee_type'], registers: [r] }), impl.counter({ name: 'never_total', help: 'Never.', labelNames: ['x'], registers: [r] })],
    gauge: impl.gauge({ name: 'open_connections', help: 'Open.', registers: [r] }),
    info: impl.gauge({ name: 'build_info', help: 'Build.', labelNames: ['version', 'hash'], registers: [r] }),
    histogram: impl.histogram({ name: 'duration_seconds', help: 'Duration.', buckets: BUCKETS, registers: [r] }),
    empty: impl.histogram({ name: 'empty_bytes', help: 'Empty.', buckets: [32, 128], registers: [r] }),
  };
}

async function expose(ops: Op[], version: string): Promise<{ ours: string; reference: string }> {
  const ours = build({
    registry: () => new Registry(),
    counter: (o) => new Counter(o),
    gauge: (o) => new Gauge(o),
    histogram: (o) => new Histogram(o),
  });
  const ref = build({
    registry: () => new prom.Registry(),
    counter: (o) => new prom.Counter(o),
    gauge: (o) => new prom.Gauge(o),
    histogram: (o) => new prom.Histogram(o),
  });
  ours.info.labels(version, 'unknown').set(1);
  ref.info.labels(version, 'unknown').set(1);
  for (const op of ops) {
    switch (op.kind) {
      case 'inc':
        ours.counters[op.metric].inc(op.by);
        ref.counters[op.metric].inc(op.by);
        break;
      case 'incLabel':
        ours.labelled[op.metric].labels(op.label).inc(op.by);
        ref.labelled[op.metric].labels(op.label).inc(op.by);
        break;
      case 'gauge':
        if (op.how === 'set') {
          ours.gauge.set(op.by);
          ref.gauge.set(op.by);
        } else {
          ours.gauge[op.how](op.by);
          ref.gauge[op.how](op.by);
        }
        break;
      case 'observe':
        ours.histogram.observe(op.v);
        ref.histogram.observe(op.v);
        break;
    }
  }
  return { ours: await ours.registry.metrics(), reference: await ref.registry.metrics() };
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('inc' as const), metric: fc.integer({ min: 0, max: 1 }), by: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1e6, noNaN: true })) }),
  fc.record({ kind: fc.constant('incLabel' as const), metric: fc.constant(0), label: fc.oneof(fc.constantFrom('snp', 'tdx', 'sample'), fc.string({ maxLength: 8 })), by: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('gauge' as const), how: fc.constantFrom('inc' as const, 'dec' as const, 'set' as const), by: fc.integer({ min: -50, max: 50 }) }),
  fc.record({ kind: fc.constant('observe' as const), v: fc.oneof(fc.constantFrom(...BUCKETS, 0, 2, 1e-9), fc.double({ min: 0, max: 5, noNaN: true })) }),
);

test('the exposition is byte for byte what prom-client writes for the same metrics and updates', async () => {
  const fixed = await expose(
    [
      { kind: 'inc', metric: 0, by: 1 },
      { kind: 'inc', metric: 0, by: 2.5 },
      { kind: 'incLabel', metric: 0, label: 'snp', by: 1 },
      { kind: 'incLabel', metric: 0, label: 'a"b\\c\nd', by: 2 },
      { kind: 'incLabel', metric: 0, label: 'snp', by: 1 },
      { kind: 'gauge', how: 'inc', by: 1 },
      { kind: 'gauge', how: 'dec', by: 3 },
      { kind: 'observe', v: 0.0005 },
      { kind: 'observe', v: 0.0007 },
      { kind: 'observe', v: 3 },
    ],
    '1.2.3',
  );
  assert.equal(fixed.ours, fixed.reference);
  // The text holds what was written, not just what both agree on.
  assert.match(fixed.ours, /^plain_total 3\.5$/m);
  assert.match(fixed.ours, /^by_tee_total\{tee_type="snp"\} 2$/m);
  assert.match(fixed.ours, /^by_tee_total\{tee_type="a\\"b\\\\c\\nd"\} 2$/m);
  assert.match(fixed.ours, /^open_connections -2$/m);
  assert.match(fixed.ours, /^duration_seconds_bucket\{le="0\.0005"\} 1$/m);
  assert.match(fixed.ours, /^duration_seconds_bucket\{le="0\.001"\} 2$/m);
  assert.match(fixed.ours, /^duration_seconds_bucket\{le="\+Inf"\} 3$/m);
  assert.match(fixed.ours, /^# HELP plain_total Help with a \\\\ backslash,\\na newline and "quotes"\.$/m);

  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), fc.string({ maxLength: 6 }), async (ops, version) => {
      const { ours, reference } = await expose(ops, version);
      assert.equal(ours, reference);
    }),
    { numRuns: 200 },
  );
});

test('the registry serves the Prometheus text content type and refuses a second metric of one name', () => {
  const r = new Registry();
  assert.equal(r.contentType, PROMETHEUS_CONTENT_TYPE);
  assert.equal(r.contentType, new prom.Registry().contentType);
  new Counter({ name: 'x_total', help: 'X.', registers: [r] });
  assert.throws(() => new Gauge({ name: 'x_total', help: 'X again.', registers: [r] }), /already registered/);
});

test('bad updates are refused instead of corrupting a series', () => {
  const c = new Counter({ name: 'c_total', help: 'C.', labelNames: ['tee_type'] });
  assert.throws(() => c.labels('snp').inc(-1), /only goes up/);
  assert.throws(() => c.labels('snp').inc(Number.NaN), /only goes up/);
  assert.throws(() => c.labels(), /takes 1 label values, got 0/);
  assert.throws(() => c.labels('a', 'b'), /takes 1 label values, got 2/);
  const h = new Histogram({ name: 'h', help: 'H.', buckets: [1] });
  assert.throws(() => h.observe(Number.NaN), /cannot observe/);
  assert.throws(() => h.observe('1' as unknown as number), /cannot observe/);
});

test('a KBS exposes every metric under its Trustee name, with its build information', async () => {
  const m = new KbsMetrics('9.8.7');
  m.httpRequests.inc();
  m.attestationSuccesses.labels('snp').inc();
  m.httpDuration.observe(0.002);
  const text = await m.registry.metrics();
  for (const name of [
    'kbs_http_requests_total',
    'kbs_http_request_duration_seconds',
    'kbs_http_request_size_bytes',
    'kbs_http_response_size_bytes',
    'kbs_http_active_connections',
    'kbs_resource_reads_total',
    'kbs_resource_writes_total',
    'kbs_policy_evaluations_total',
    'kbs_policy_approvals_total',
    'kbs_policy_violations_total',
    'kbs_policy_errors_total',
    'kbs_attestation_requests_total',
    'kbs_attestation_successes_total',
    'kbs_attestation_failures_total',
    'kbs_attestation_errors_total',
    'kbs_auth_requests_total',
    'kbs_auth_successes_total',
    'kbs_auth_errors_total',
    'kbs_auth_rate_limited_total',
    'kbs_build_info',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'), name);
  }
  assert.match(text, /^kbs_http_requests_total 1$/m);
  assert.match(text, /^kbs_attestation_successes_total\{tee_type="snp"\} 1$/m);
  assert.match(text, /^kbs_http_request_duration_seconds_bucket\{le="0\.001"\} 0$/m);
  assert.match(text, /^kbs_http_request_duration_seconds_bucket\{le="0\.005"\} 1$/m);
  assert.match(text, /^kbs_build_info\{version="9\.8\.7",git_hash="unknown",build_date="unknown"\} 1$/m);
  // Two instances in one process keep their own counts.
  assert.match(await new KbsMetrics('1').registry.metrics(), /^kbs_http_requests_total 0$/m);
});
