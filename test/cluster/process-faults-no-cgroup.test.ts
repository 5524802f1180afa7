// pause/resume/crash without cgroups: the shepherd freezes the tree with SIGSTOP (FREEZE message).
// Set before anything spawns: cgroup support is detected once per process (process/cgroup.ts).
process.env.DROVER_CGROUP = 'off';
const { describeProcessFaults } = await import('./process-faults-suite.js');

describeProcessFaults('signals');
