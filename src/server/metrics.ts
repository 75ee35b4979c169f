/**
 * Prometheus metrics with Trustee's names (TR `kbs/docs/metrics.md`, specs/landscape.md §6), one registry per
 * KBS instance so several servers in one process (tests) do not collide.
 *
 * Label values come only from fixed, short sets (TEE kinds the server knows, build facts). Trustee labels the
 * resource counters with the resource path; here they carry no label, because every distinct path or id an
 * admin writes would otherwise add a time series for as long as the process lives.
 *
 * The exposition is the Prometheus text format 0.0.4, written here: counters, gauges and fixed-bucket
 * histograms are all the server needs, and a metrics library (with its tracing and summary dependencies) was a
 * sizeable share of what the server loaded before it could answer its first request. An update is a number
 * added to a field; the text is built only when `/metrics` is read.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers?: Registry[];
}

interface Exposable {
  readonly name: string;
  expose(): string;
}

/** A sample value as the text format writes it. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`;
}

/** Counters and gauges: one value per label set, unlabelled ones starting at 0. */
abstract class Scalar implements Exposable {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Series by label text (`{a="x"}`; empty for the unlabelled metric), in the order they first appeared. */
  protected readonly series = new Map<string, { value: number }>();
  protected abstract readonly type: string;

  constructor(o: MetricOptions) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    if (this.labelNames.length === 0) this.series.set('', { value: 0 });
    for (const r of o.registers ?? []) r.registerMetric(this);
  }

  protected cell(values: readonly string[]): { value: number } {
    if (values.length !== this.labelNames.length) throw new TypeError(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.length === 0 ? '' : `{${values.map((v, i) => `${this.labelNames[i]}="${escapeLabel(String(v))}"`).join(',')}}`;
    let c = this.series.get(key);
    if (!c) this.series.set(key, (c = { value: 0 }));
    return c;
  }

  expose(): string {
    let out = header(this.name, this.help, this.type);
    for (const [labels, c] of this.series) out += `\n${this.name}${labels} ${formatValue(c.value)}`;
    return out;
  }
}

export class Counter extends Scalar {
  protected readonly type = 'counter';

  inc(by = 1): void {
    this.labels().inc(by);
  }

  labels(...values: string[]): { inc(by?: number): void } {
    const c = this.cell(values);
    const name = this.name;
    return {
      inc(by = 1) {
        if (!(by >= 0)) throw new TypeError(`${name}: a counter only goes up (got ${by})`);
        c.value += by;
      },
    };
  }
}

export class Gauge extends Scalar {
  protected readonly type = 'gauge';

  inc(by = 1): void {
    this.labels().inc(by);
  }

  dec(by = 1): void {
    this.labels().inc(-by);
  }

  set(v: number): void {
    this.labels().set(v);
  }

  labels(...values: string[]): { inc(by?: number): void; dec(by?: number): void; set(v: number): void } {
    const c = this.cell(values);
    return {
      inc: (by = 1) => void (c.value += by),
      dec: (by = 1) => void (c.value -= by),
      set: (v: number) => void (c.value = v),
    };
  }
}

/** An unlabelled histogram over fixed upper bounds (ascending), with `+Inf` implied. */
export class Histogram implements Exposable {
  readonly name: string;
  readonly help: string;
  private readonly bounds: number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(o: Omit<MetricOptions, 'labelNames'> & { buckets: readonly number[] }) {
    this.name = o.name;
    this.help = o.help;
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    this.counts = this.bounds.map(() => 0);
    for (const r of o.registers ?? []) r.registerMetric(this);
  }

  observe(v: number): void {
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${this.name}: cannot observe ${String(v)}`);
    const b = this.bounds;
    // The first bucket whose bound is ≥ v; a value above every bound counts only in +Inf.
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo < b.length) this.counts[lo]++;
    this.sum += v;
    this.count++;
  }

  expose(): string {
    let out = header(this.name, this.help, 'histogram');
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i];
      out += `\n${this.name}_bucket{le="${formatValue(this.bounds[i])}"} ${acc}`;
    }
    out += `\n${this.name}_bucket{le="+Inf"} ${this.count}\n${this.name}_sum ${formatValue(this.sum)}\n${this.name}_count ${this.count}`;
    return out;
  }
}

export class Registry {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  private readonly metricsByName = new Map<string, Exposable>();

  registerMetric(m: Exposable): void {
    if (this.metricsByName.has(m.name)) throw new TypeError(`a metric named ${m.name} is already registered`);
    this.metricsByName.set(m.name, m);
  }

  /** The exposition of every registered metric, in registration order. */
  async metrics(): Promise<string> {
    return [...this.metricsByName.values()].map((m) => m.expose()).join('\n\n') + '\n';
  }
}

export class KbsMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({ name: 'kbs_http_requests_total', help: 'Total count of HTTP requests to KBS protocol endpoints.', registers: [this.registry] });
  readonly httpDuration = new Histogram({
    name: 'kbs_http_request_duration_seconds',
    help: 'Distribution of request handling duration in seconds.',
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.5, 1],
    registers: [this.registry],
  });
  readonly requestSize = new Histogram({ name: 'kbs_http_request_size_bytes', help: 'Distribution of request body sizes in bytes.', buckets: [32, 128, 512, 2048, 8192], registers: [this.registry] });
  readonly responseSize = new Histogram({ name: 'kbs_http_response_size_bytes', help: 'Distribution of response body sizes in bytes.', buckets: [32, 128, 512, 2048, 8192], registers: [this.registry] });
  readonly activeConnections = new Gauge({ name: 'kbs_http_active_connections', help: 'Count of HTTP connections currently being processed.', registers: [this.registry] });
  readonly resourceReads = new Counter({ name: 'kbs_resource_reads_total', help: 'Count of resource read operations.', registers: [this.registry] });
  readonly resourceWrites = new Counter({ name: 'kbs_resource_writes_total', help: 'Count of resource write operations.', registers: [this.registry] });
  readonly policyEvaluations = new Counter({ name: 'kbs_policy_evaluations_total', help: 'Total count of KBS policy evaluations.', registers: [this.registry] });
  readonly policyApprovals = new Counter({ name: 'kbs_policy_approvals_total', help: 'Total count of requests approved by KBS policy.', registers: [this.registry] });
  readonly policyViolations = new Counter({ name: 'kbs_policy_violations_total', help: 'Total count of requests denied by KBS policy.', registers: [this.registry] });
  readonly policyErrors = new Counter({ name: 'kbs_policy_errors_total', help: 'Total count of errors during KBS policy evaluation.', registers: [this.registry] });
  readonly attestationRequests = new Counter({ name: 'kbs_attestation_requests_total', help: 'Total count of attestation requests.', registers: [this.registry] });
  readonly attestationSuccesses = new Counter({ name: 'kbs_attestation_successes_total', help: 'Total count of successful attestations partitioned by TEE type', labelNames: ['tee_type'], registers: [this.registry] });
  readonly attestationFailures = new Counter({ name: 'kbs_attestation_failures_total', help: 'Total count of failed attestations.', labelNames: ['tee_type'], registers: [this.registry] });
  readonly attestationErrors = new Counter({ name: 'kbs_attestation_errors_total', help: 'Total count of errors during attestation processing (e.g. malformed requests).', registers: [this.registry] });
  readonly authRequests = new Counter({ name: 'kbs_auth_requests_total', help: 'Total count of authentication (RCAR handshake) requests.', registers: [this.registry] });
  readonly authSuccesses = new Counter({ name: 'kbs_auth_successes_total', help: 'Total count of successful authentication requests.', registers: [this.registry] });
  readonly authErrors = new Counter({ name: 'kbs_auth_errors_total', help: 'Total count of errors during authentication processing.', registers: [this.registry] });
  /** cocokit: auth requests refused with 429 (per-client rate or pending-session cap). */
  readonly authRateLimited = new Counter({ name: 'kbs_auth_rate_limited_total', help: 'Total count of authentication requests refused by the rate limit or the pending-session cap.', registers: [this.registry] });

  constructor(version: string) {
    new Gauge({ name: 'kbs_build_info', help: 'KBS binary build information.', labelNames: ['version', 'git_hash', 'build_date'], registers: [this.registry] })
      .labels(version, 'unknown', 'unknown')
      .set(1);
  }
}
