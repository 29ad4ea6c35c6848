/**
 * A cgroup as the freezer takes it. The public API resolves container references above the freezer
 * and hands down only this: the freezer knows cgroups, never engines.
 */
export interface CgroupTarget {
  /** How the caller named it, for messages and results: a path or a container reference. */
  label: string;
  /** Host path of the cgroup directory, as results report it. */
  cgroupDir: string;
  /** Where this process opens it: the `hostRoot` prefix, then `cgroupDir`. */
  openDir: string;
  /**
   * `dev:ino` the directory must have: the identity guard of a resolved container, checked on the
   * open handle, so a restart that recreated the cgroup under the same path is never frozen by mistake.
   */
  identity?: string;
}
