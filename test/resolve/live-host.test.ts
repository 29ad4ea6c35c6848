// Live resolution in the host-mode lab: this machine's hybrid layout (v1 freezer + cgroup2 at /sys/fs/cgroup/unified).
import { liveSuite } from './live-suite.js';

liveSuite('host');
