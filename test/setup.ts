// vitest hygiene: a process warning or an unhandled rejection fails the run.
process.on('warning', (warning) => {
  // The one-time "cgroup v2 is not writable" notice is expected on machines without one.
  if ((warning as NodeJS.ErrnoException).code === 'DROVER_CGROUP') return;
  throw warning;
});
process.on('unhandledRejection', (reason) => {
  throw reason;
});
