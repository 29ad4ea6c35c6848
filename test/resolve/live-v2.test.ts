// Live resolution in the v2-mode lab: engines running with cgroup2 over /sys/fs/cgroup in a private
// mount namespace, resolved from the host namespace (their cgroups are under /sys/fs/cgroup/unified).
import { liveSuite } from './live-suite.js';

liveSuite('v2');
