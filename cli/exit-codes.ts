/**
 * Exit codes of the `drover` CLI (documented in docs/cli.md and `drover --help`). sysexits-style
 * 70 for internal errors; 130 = 128 + SIGINT, as shells report a Ctrl-C.
 */
/** Success; `up` after a clean down. */
export const EXIT_OK = 0;
/** Usage or config error, unknown node, no running cluster (or one already running), refused by the control API, a telemetry endpoint that cannot listen, drover's native build missing. */
export const EXIT_USAGE = 1;
/** A node failed: it could not start or become ready, `up --detach` finished with failed nodes, or `onNodeFailure: stop-cluster` stopped `up`'s cluster. */
export const EXIT_NODE_FAILED = 2;
/** A bug in drover (the message asks for a report; `DROVER_DEBUG=1` prints the stack). */
export const EXIT_INTERNAL = 70;
/** `up` was interrupted twice: every node got SIGKILL instead of a graceful stop. */
export const EXIT_INTERRUPTED = 130;
/** `run` got SIGTERM (128 + 15): CMD and the cluster were stopped. */
export const EXIT_TERMINATED = 143;
/** `run` could not start CMD (not found, not executable …), as a shell reports a command it cannot run. */
export const EXIT_COMMAND_NOT_RUN = 127;
/**
 * What the shell shows when stdout's reader went away (`drover logs | head`): the command ends by
 * SIGPIPE (128 + 13) as git and ls do; not an error.
 */
export const EXIT_SIGPIPE = 141;

/** The table printed by `drover --help` (docs/cli.md lists the same codes). */
export const EXIT_CODE_HELP = [
  `  ${EXIT_OK}    ok (up: after a clean down)`,
  `  ${EXIT_USAGE}    usage or config error, unknown node, no running cluster / already running,\n       a telemetry endpoint that cannot listen (the Prometheus port is taken), no native build`,
  `  ${EXIT_NODE_FAILED}    a node failed to start or become ready; run: a node failed while CMD ran`,
  `  ${EXIT_INTERNAL}   internal error (DROVER_DEBUG=1 prints the stack)`,
  `  ${EXIT_COMMAND_NOT_RUN}  run: CMD could not be started (not found, not executable)`,
  `  ${EXIT_INTERRUPTED}  up was interrupted twice: nodes were SIGKILLed; run: SIGINT`,
  `  ${EXIT_TERMINATED}  run: SIGTERM (other codes of run: CMD's own exit code, 128 + n for signal n)`,
  `  ${EXIT_SIGPIPE}  (SIGPIPE) stdout's reader went away, e.g. \`drover logs | head\``,
].join('\n');
