/**
 * cgfreeze: pause and resume Linux cgroups (and the containers in them) by
 * writing the kernel's cgroup freezer directly.
 */
export { freeze, freezeSync, thaw, thawSync } from './freezer/api.js';
export { state, type CgroupStatus } from './freezer/status.js';
export { kill, type KillOptions, type KillResult } from './freezer/kill.js';
export { keepWarm, type KeepWarmHandle } from './freezer/keep-warm.js';
export type { FreezeOptions, FreezeResult } from './freezer/operations.js';
export type { GroupItem, GroupOptions, GroupResult } from './freezer/group.js';
export type { Target, TargetOptions } from './freezer/targets.js';
export type { FreezerState } from './cgroup/freezer-files.js';
export { clearResolveCache, list, listSync, resolve, resolveSync } from './resolve/index.js';
export type { Engine, K8sIdentity, ListOptions, ListedContainer, Resolved, ResolveOptions } from './resolve/index.js';
export { CgfreezeError, ERROR_CODES, type CgfreezeErrorCode, type Culprit } from './errors.js';
