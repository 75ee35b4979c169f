/**
 * Prometheus metrics with Trustee's names (TR `kbs/docs/metrics.md`, specs/landscape.md §6), one registry per
 * KBS instance so several servers in one process (tests) do not collide.
 *
 * Label values come only from fixed, short sets (TEE kinds the server knows, build facts). Trustee labels the
 * resource counters with the resource path; here they carry no label, because every distinct path or id an
 * admin writes would otherwise add a time series for as long as the process lives.
 *
 * prom-client keeps the metrics and writes the exposition, but it is loaded only after the server listens
 * (`load()`; `/metrics` loads it too): loading it was a sizeable share of a cold start before the first answer.
 * Updates made before it has loaded are held — counter and gauge changes as sums per label set, histogram
 * observations as values (at most {@link HELD_OBSERVATIONS} per histogram) — and applied to the metrics it makes.
 */
import type * as PromClient from 'prom-client';

type Prom = typeof PromClient;

/** The exposition's content type (Prometheus text format 0.0.4), as prom-client's registry states it. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Histogram observations held per histogram until prom-client has loaded; later ones are dropped. */
export const HELD_OBSERVATIONS = 65_536;

let promClient: Promise<Prom> | undefined;
// A bundle may hand the CommonJS module over as the namespace's default export only.
const loadPromClient = (): Promise<Prom> =>
  (promClient ??= import('prom-client').then((m) => (typeof m.Registry === 'function' ? m : (m as unknown as { default: Prom }).default)));

interface Lazy {
  attach(prom: Prom, registry: PromClient.Registry): void;
}

interface ScalarOptions {
  name: string;
  help: string;
  labelNames?: string[];
}

/** A counter or gauge: changes before prom-client has loaded are summed per label set. */
class LazyScalar implements Lazy {
  private real: PromClient.Counter | PromClient.Gauge | undefined;
  private readonly held = new Map<string, { labels: string[]; delta: number; set?: number }>();

  constructor(
    private readonly kind: 'counter' | 'gauge',
    private readonly o: ScalarOptions,
  ) {}

  private hold(labels: string[], delta: number, set?: number): void {
    const key = labels.join('\u0000');
    const h = this.held.get(key) ?? { labels, delta: 0 };
    if (set === undefined) h.delta += delta;
    else Object.assign(h, { delta: 0, set });
    this.held.set(key, h);
  }

  inc(v = 1): void {
    if (this.real) this.real.inc(v);
    else this.hold([], v);
  }

  dec(v = 1): void {
    if (this.real) (this.real as PromClient.Gauge).dec(v);
    else this.hold([], -v);
  }

  set(v: number): void {
    if (this.real) (this.real as PromClient.Gauge).set(v);
    else this.hold([], 0, v);
  }

  labels(...values: string[]): { inc(v?: number): void; set(v: number): void } {
    return {
      inc: (v = 1) => (this.real ? this.real.labels(...values).inc(v) : this.hold(values, v)),
      set: (v) => (this.real ? (this.real as PromClient.Gauge).labels(...values).set(v) : this.hold(values, 0, v)),
    };
  }

  attach(prom: Prom, registry: PromClient.Registry): void {
    const o = { ...this.o, registers: [registry] };
    const real = this.kind === 'counter' ? new prom.Counter(o) : new prom.Gauge(o);
    for (const h of this.held.values()) {
      const target = h.labels.length === 0 ? real : real.labels(...h.labels);
      if (h.set !== undefined) (target as PromClient.Gauge).set(h.set);
      // inc(0) too: it makes a labelled series appear as the update that was held did.
      if (h.delta >= 0) target.inc(h.delta);
      else (target as PromClient.Gauge).dec(-h.delta);
    }
    this.held.clear();
    this.real = real;
  }
}

/** A histogram with fixed buckets: observations before prom-client has loaded are held, up to a bound. */
class LazyHistogram implements Lazy {
  private real: PromClient.Histogram | undefined;
  private held: number[] = [];

  constructor(private readonly o: { name: string; help: string; buckets: number[] }) {}

  observe(v: number): void {
    if (this.real) this.real.observe(v);
    else if (this.held.length < HELD_OBSERVATIONS) this.held.push(v);
  }

  attach(prom: Prom, registry: PromClient.Registry): void {
    const real = new prom.Histogram({ ...this.o, registers: [registry] });
    for (const v of this.held) real.observe(v);
    this.held = [];
    this.real = real;
  }
}

export class KbsMetrics {
  private readonly all: Lazy[] = [];
  private loading: Promise<PromClient.Registry> | undefined;

  private counter(o: ScalarOptions): LazyScalar {
    const m = new LazyScalar('counter', o);
    this.all.push(m);
    return m;
  }

  private gauge(o: ScalarOptions): LazyScalar {
    const m = new LazyScalar('gauge', o);
    this.all.push(m);
    return m;
  }

  private histogram(o: { name: string; help: string; buckets: number[] }): LazyHistogram {
    const m = new LazyHistogram(o);
    this.all.push(m);
    return m;
  }

  readonly httpRequests = this.counter({ name: 'kbs_http_requests_total', help: 'Total count of HTTP requests to KBS protocol endpoints.' });
  readonly httpDuration = this.histogram({ name: 'kbs_http_request_duration_seconds', help: 'Distribution of request handling duration in seconds.', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.5, 1] });
  readonly requestSize = this.histogram({ name: 'kbs_http_request_size_bytes', help: 'Distribution of request body sizes in bytes.', buckets: [32, 128, 512, 2048, 8192] });
  readonly responseSize = this.histogram({ name: 'kbs_http_response_size_bytes', help: 'Distribution of response body sizes in bytes.', buckets: [32, 128, 512, 2048, 8192] });
  readonly activeConnections = this.gauge({ name: 'kbs_http_active_connections', help: 'Count of HTTP connections currently being processed.' });
  readonly resourceReads = this.counter({ name: 'kbs_resource_reads_total', help: 'Count of resource read operations.' });
  readonly resourceWrites = this.counter({ name: 'kbs_resource_writes_total', help: 'Count of resource write operations.' });
  readonly policyEvaluations = this.counter({ name: 'kbs_policy_evaluations_total', help: 'Total count of KBS policy evaluations.' });
  readonly policyApprovals = this.counter({ name: 'kbs_policy_approvals_total', help: 'Total count of requests approved by KBS policy.' });
  readonly policyViolations = this.counter({ name: 'kbs_policy_violations_total', help: 'Total count of requests denied by KBS policy.' });
  readonly policyErrors = this.counter({ name: 'kbs_policy_errors_total', help: 'Total count of errors during KBS policy evaluation.' });
  readonly attestationRequests = this.counter({ name: 'kbs_attestation_requests_total', help: 'Total count of attestation requests.' });
  readonly attestationSuccesses = this.counter({ name: 'kbs_attestation_successes_total', help: 'Total count of successful attestations partitioned by TEE type', labelNames: ['tee_type'] });
  readonly attestationFailures = this.counter({ name: 'kbs_attestation_failures_total', help: 'Total count of failed attestations.', labelNames: ['tee_type'] });
  readonly attestationErrors = this.counter({ name: 'kbs_attestation_errors_total', help: 'Total count of errors during attestation processing (e.g. malformed requests).' });
  readonly authRequests = this.counter({ name: 'kbs_auth_requests_total', help: 'Total count of authentication (RCAR handshake) requests.' });
  readonly authSuccesses = this.counter({ name: 'kbs_auth_successes_total', help: 'Total count of successful authentication requests.' });
  readonly authErrors = this.counter({ name: 'kbs_auth_errors_total', help: 'Total count of errors during authentication processing.' });
  /** cocokit: auth requests refused with 429 (per-client rate or pending-session cap). */
  readonly authRateLimited = this.counter({ name: 'kbs_auth_rate_limited_total', help: 'Total count of authentication requests refused by the rate limit or the pending-session cap.' });

  /** The exposition: `metrics()` loads prom-client first if it has not loaded yet. */
  readonly registry = {
    contentType: PROMETHEUS_CONTENT_TYPE,
    metrics: async (): Promise<string> => (await this.load()).metrics(),
  };

  constructor(version: string) {
    this.gauge({ name: 'kbs_build_info', help: 'KBS binary build information.', labelNames: ['version', 'git_hash', 'build_date'] }).labels(version, 'unknown', 'unknown').set(1);
  }

  /** Loads prom-client and makes the metrics, carrying over what was recorded before; returns its registry. */
  load(): Promise<PromClient.Registry> {
    return (this.loading ??= loadPromClient().then(
      (prom) => {
        const registry = new prom.Registry();
        for (const m of this.all) m.attach(prom, registry);
        return registry;
      },
      (e: unknown) => {
        // The next call tries again.
        this.loading = undefined;
        promClient = undefined;
        throw e;
      },
    ));
  }
}
