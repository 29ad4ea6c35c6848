// The kernel's own word on a cgroup, read from its files with node:fs: the oracle of every test that
// claims something is frozen or thawed. Never src/: the code under test cannot be its own judge.
import {
  type CgroupVersion,
  cgroupVersionOf,
  isFrozenByAncestor,
  isSelfFrozen,
  readFreezerState,
} from '../../scripts/workload/cgroupfs.js';

export type KernelFreezerState = 'frozen' | 'freezing' | 'thawed';

/** v1 freezer.state; v2 `frozen` of cgroup.events, with cgroup.freeze=1 but not yet frozen as `freezing`. */
export function kernelFreezerState(dir: string): KernelFreezerState {
  return readFreezerState(dir).toLowerCase() as KernelFreezerState;
}

export interface KernelView {
  state: KernelFreezerState;
  /** The cgroup itself asked to be frozen (v1 freezer.self_freezing, v2 cgroup.freeze). */
  self: boolean;
  /** An ancestor holds it frozen (v1 freezer.parent_freezing, v2 an ancestor's cgroup.freeze). */
  byAncestor: boolean;
}

/** The same three facts the API's state() reports, from the kernel's files. */
export function kernelView(dir: string): KernelView {
  const version: CgroupVersion = cgroupVersionOf(dir);
  return {
    state: kernelFreezerState(dir),
    self: isSelfFrozen(dir, version),
    byAncestor: isFrozenByAncestor(dir, version),
  };
}

/** Nothing froze it and nothing holds it: what every refusal, rollback and thaw must leave. */
export const UNTOUCHED: KernelView = { state: 'thawed', self: false, byAncestor: false };
