// vitest hygiene (STYLE.md habit 39): a process warning or an unhandled rejection fails the run.
process.on('warning', (warning) => {
  throw warning;
});
process.on('unhandledRejection', (reason) => {
  throw reason;
});
