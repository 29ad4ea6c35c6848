/**
 * The sidecar's API (`cgfreeze/serve`): start it from code with the same options `cgfreeze serve` takes.
 * How it is built: routes.ts (the one route table), service.ts (what each request does, without HTTP) with
 * requests.ts (its bodies, checked), dispatch.ts, http.ts and listeners.ts (HTTP), server.ts (the wiring).
 */
export { startServer, type ServeOptions, type Sidecar } from './server.js';
export { DEFAULTS } from './defaults.js';
export { SidecarService, type ServiceOptions } from './service.js';
export type { ServiceLimits } from './requests.js';
export type { LeaseRecord } from './leases.js';
export {
  parsePolicy,
  loadPolicy,
  DEFAULT_POLICY,
  type Policy,
  type PolicyRule,
  type Caller,
  type Action,
} from './policy.js';
