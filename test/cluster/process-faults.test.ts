// pause/resume/crash with a cgroup leaf per node (the cgroup v2 freezer); see process-faults-suite.ts.
import { describeProcessFaults } from './process-faults-suite.js';

describeProcessFaults('cgroup');
