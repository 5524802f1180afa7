#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DroverError } from '../manager/errors.js';
import { runDown, runLogs, runNodeAction, runPs } from './client-commands.js';
import { runUp } from './up.js';
import { runValidate } from './validate.js';

/** Exit codes: 0 ok, 1 user or config error, 2 a node or the cluster failed, 70 internal error. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_NODE_FAILED = 2;
export const EXIT_INTERNAL = 70;

const USER_ERRORS = new Set(['ERR_CONFIG_INVALID', 'ERR_CONFIG_READ', 'ERR_INVALID_OPTION', 'ERR_UNKNOWN_NODE', 'ERR_CONTROL_API']);

function getExitCode(error: unknown): number {
  if (error instanceof DroverError) return USER_ERRORS.has(error.code) ? EXIT_USAGE : EXIT_NODE_FAILED;
  return EXIT_INTERNAL;
}

async function run(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`drover: ${message}\n`);
    if (!(error instanceof DroverError) && process.env.DROVER_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = getExitCode(error);
  }
}

const fileOption = {
  alias: 'f',
  type: 'string',
  default: 'drover.yaml',
  describe: 'config file (drover.yaml or .json); also finds the running cluster',
} as const;

await yargs(hideBin(process.argv))
  .scriptName('drover')
  .usage('$0 <command> [options]\n\nSupervise a cluster of named processes described by drover.yaml.')
  .option('file', fileOption)
  .command(
    'up',
    'start the cluster in the foreground (Ctrl-C = graceful down)',
    (y) => y.option('strict', { type: 'boolean', default: false, describe: 'unknown config keys are errors' }).example('$0 up -f examples/ring/drover.yaml', 'run the example ring'),
    (argv) => run(() => runUp({ file: argv.file, strict: argv.strict })),
  )
  .command(
    'ps',
    'list nodes: name, replica, state, pid, restarts, uptime, error',
    (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' }).example('$0 ps --json', 'machine-readable node list'),
    (argv) => run(() => runPs({ file: argv.file, json: argv.json })),
  )
  .command(
    'logs <node>',
    "print a node's output from its ring buffer",
    (y) =>
      y
        .positional('node', { type: 'string', demandOption: true })
        .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'how many lines' })
        .option('follow', { type: 'boolean', default: false, describe: 'keep printing new lines' })
        .example('$0 logs a -n 20 --follow', 'last 20 lines of node a, then follow'),
    (argv) => run(() => runLogs({ file: argv.file, node: argv.node, lines: argv.lines, follow: argv.follow })),
  )
  .command(
    ['start <node>', 'stop <node>', 'restart <node>'],
    'start, stop or restart one node of the running cluster',
    (y) => y.positional('node', { type: 'string', demandOption: true }).example('$0 restart a', 'restart node a'),
    (argv) => run(() => runNodeAction({ file: argv.file, node: argv.node, action: argv._[0] as 'start' | 'stop' | 'restart' })),
  )
  .command(
    'down',
    'gracefully stop the running cluster',
    (y) => y.example('$0 down -f examples/ring/drover.yaml', 'stop the example ring'),
    (argv) => run(() => runDown({ file: argv.file })),
  )
  .command(
    'validate',
    'check the config; prints every problem with its path, exit 1 when invalid',
    (y) => y.option('strict', { type: 'boolean', default: false, describe: 'unknown keys are errors' }).example('$0 validate -f drover.yaml --strict', 'validate strictly'),
    (argv) => run(() => runValidate({ file: argv.file, strict: argv.strict })),
  )
  .epilogue(
    'Environment:\n  DROVER_STATE_DIR  where the control socket lives (default: a per-config dir under the temp dir)\n  NO_COLOR, FORCE_COLOR  color control\n  OTEL_*  OpenTelemetry SDK settings (nothing is exported unless set)',
  )
  .demandCommand(1, 'name a command; see drover --help')
  .strict()
  .recommendCommands()
  .fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`drover: ${message}\nRun \`drover --help\` for usage.\n`);
    process.exit(EXIT_USAGE);
  })
  .help()
  .version()
  .parseAsync();
