/**
 * The sidecar's counters in Prometheus text format 0.0.4, kept by hand: a
 * few maps and fixed histogram buckets are all it needs.
 */

/** Seconds; the freezer's fast path is tens of µs, a stuck freeze hits the timeout. */
export const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 10,
];

class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i] = (this.counts[i] ?? 0) + 1;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export type Operation = 'pause' | 'unpause' | 'expire';

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly operations = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly denied = new Map<string, number>();
  private readonly freeze = new Histogram();
  private readonly resume = new Histogram();

  /** `route status` → count. */
  request(route: string, status: number): void {
    bump(this.requests, `${route} ${status}`);
  }

  /** One target's outcome; `code` is the error code when it failed. */
  operation(op: Operation, code: string | undefined): void {
    bump(this.operations, `${op} ${code === undefined ? 'ok' : 'error'}`);
    if (code !== undefined) bump(this.errors, code);
  }

  /** A request-level error (bad JSON, oversize body, unauthenticated) by code. */
  error(code: string): void {
    bump(this.errors, code);
  }

  deny(action: string): void {
    bump(this.denied, action);
  }

  observeFreeze(ms: number): void {
    this.freeze.observe(ms / 1000);
  }

  observeResume(ms: number): void {
    this.resume.observe(ms / 1000);
  }

  render(gauges: {
    frozen: number;
    leases: number;
    inflight: number;
    queued: number;
    startTimeSeconds: number;
  }): string {
    const out: string[] = [];
    const counter = (name: string, help: string, map: Map<string, number>, keys: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [key, value] of [...map].sort(([a], [b]) => a.localeCompare(b))) {
        const values = key.split(' ');
        out.push(`${name}${labels(Object.fromEntries(keys.map((k, i) => [k, values[i] ?? ''])))} ${value}`);
      }
    };
    const histogram = (name: string, help: string, h: Histogram): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((b, i) => {
        cumulative += h.counts[i] ?? 0;
        out.push(`${name}_bucket{le="${b}"} ${cumulative}`);
      });
      out.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
    };
    const gauge = (name: string, help: string, value: number): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    };
    counter('cgfreeze_http_requests_total', 'HTTP requests by route and status.', this.requests, ['route', 'status']);
    counter(
      'cgfreeze_operations_total',
      'Pause, unpause and lease-expiry thaws per target, by result.',
      this.operations,
      ['operation', 'result'],
    );
    counter('cgfreeze_errors_total', 'Errors by stable cgfreeze code.', this.errors, ['code']);
    counter('cgfreeze_denied_total', 'Requests refused by the caller policy, by action.', this.denied, ['action']);
    histogram('cgfreeze_freeze_duration_seconds', 'Time for a freeze to settle, per target.', this.freeze);
    histogram('cgfreeze_resume_duration_seconds', 'Time for a thaw, per target.', this.resume);
    gauge('cgfreeze_frozen_targets', 'Targets this sidecar currently holds frozen.', gauges.frozen);
    gauge('cgfreeze_leases_active', 'Pauses with a TTL that has not expired yet.', gauges.leases);
    gauge('cgfreeze_http_inflight_requests', 'Requests being served now.', gauges.inflight);
    gauge('cgfreeze_http_queued_requests', 'Requests waiting for an operation slot.', gauges.queued);
    gauge('process_start_time_seconds', 'Start time of the sidecar since the Unix epoch.', gauges.startTimeSeconds);
    return out.join('\n') + '\n';
  }
}
