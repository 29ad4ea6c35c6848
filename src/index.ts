/**
 * cgfreeze: pause and resume Linux cgroups (and the containers in them) by
 * writing the kernel's cgroup freezer directly.
 *
 * This is the public API, and the one way in for the CLI and the sidecar: a target is resolved here,
 * once, and the freezer below takes only cgroups.
 */
export {
  freeze,
  freezeSync,
  kill,
  state,
  thaw,
  thawSync,
  withFrozen,
  type FreezeOptions,
  type GroupOptions,
  type KillOptions,
  type ThawOptions,
} from './api/operations.js';
export { list, listSync, resolve, resolveSync, unreadableEngineState, usage } from './api/resolve.js';
export { isCgroupPath, type Target, type TargetOptions } from './api/targets.js';
export type { FreezeResult, FrozenResult } from './freezer/operations.js';
export type { FrozenGroupResult, GroupItem, GroupResult } from './freezer/group.js';
export type { CgroupStatus } from './freezer/status.js';
export type { KillResult } from './freezer/kill.js';
export { keepWarm, type KeepWarmHandle } from './freezer/keep-warm.js';
export type { FreezerState } from './cgroup/freezer-files.js';
export { freezerMounts, type FreezerMounts } from './cgroup/mountinfo.js';
export { clearResolveCache, labelsMatch, parseContainerFilter, parseSize } from './resolve/index.js';
export type { MemoryUsage, ResourceUsage } from './cgroup/resources.js';
export { cgroupOwnerSync } from './resolve/owner.js';
export { assertNotProtected } from './cgroup/protected.js';
export { peerCredentials, type PeerCredentials } from './peer-credentials.js';
export { packageVersion } from './package-version.js';
export type {
  ContainerFilter,
  ContainerStatus,
  Engine,
  HealthStatus,
  K8sIdentity,
  ListedContainer,
  ListOptions,
  MemoryCondition,
  Resolved,
  ResolvedCgroup,
  ResolvedContainer,
  ResolveOptions,
  UnreadableState,
} from './resolve/index.js';
export {
  CgfreezeError,
  ERROR_CODES,
  SYSTEM_ERROR_CODES,
  type CgfreezeErrorCode,
  type Culprit,
  type SystemErrorCode,
} from './errors.js';
