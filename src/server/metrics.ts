/**
 * Prometheus metrics with Trustee's names (TR `kbs/docs/metrics.md`, specs/landscape.md §6), one registry per
 * KBS instance so several servers in one process (tests) do not collide.
 *
 * Label values come only from fixed, short sets (TEE kinds the server knows, build facts). Trustee labels the
 * resource counters with the resource path; here they carry no label, because every distinct path or id an
 * admin writes would otherwise add a time series for as long as the process lives.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

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
