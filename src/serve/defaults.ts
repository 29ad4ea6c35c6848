/** The sidecar's defaults, in a module of their own so that `cgfreeze serve --help` loads nothing else. */
export const DEFAULTS = {
  socketPath: '/run/cgfreeze/cgfreeze.sock',
  leaseFile: '/var/lib/cgfreeze/leases.json',
  socketMode: 0o660,
  maxBodyBytes: 64 * 1024,
  maxConcurrent: 64,
  /** How long a request may wait for an operation slot before it gets 503 ERR_BUSY. */
  queueTimeoutMs: 5_000,
  maxTargets: 256,
  requestTimeoutMs: 10_000,
  /** A freeze's timeout when the caller gives none, and the most it may ask for. */
  freezeTimeoutMs: 10_000,
  maxFreezeTimeoutMs: 60_000,
  maxTtlMs: 7 * 24 * 3_600_000,
  maxConnections: 1_024,
  /** One uid (or TCP address) holds at most a quarter of the connections. */
  maxConnectionsPerCaller: 256,
  /** The metrics listener is for a scraper or two and a probe, never for load. */
  metricsMaxConnections: 16,
} as const;
