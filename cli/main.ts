#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { DroverError } from '../contract/errors.js';
import { raiseSignal } from '../process/owned-signals.js';
import type { NodeAction } from './client-commands.js';
import { BACKGROUND_UP_ARG, cleanUpCancelledStart, readBackgroundUpRequest } from './background-up.js';
import { getConfigFiles, getProfiles, takeConfigFiles } from './config-files.js';
import { type QuickCommand, readQuickCommandLine, type UpCommandOptions } from './quick-command-line.js';
import { EXIT_CODE_HELP, EXIT_INTERNAL, EXIT_NODE_FAILED, EXIT_SIGPIPE, EXIT_USAGE } from './exit-codes.js';

// Command modules load on use: a client command never pays for the OpenTelemetry SDK `up` loads.
const loadClient = () => import('./client-commands.js');

/**
 * Codes that mean the user has something to fix (exit 1): a config, an option, the running
 * cluster, a telemetry endpoint that cannot listen, drover's own native build. Other DroverErrors
 * are node failures (exit 2).
 */
const USER_ERRORS = new Set(['ERR_CONFIG_INVALID', 'ERR_CONFIG_READ', 'ERR_INVALID_OPTION', 'ERR_UNKNOWN_NODE', 'ERR_CONTROL_API', 'ERR_TELEMETRY_ENDPOINT', 'ERR_NATIVE_LOAD', 'ERR_ILLEGAL_TRANSITION', 'ERR_UNKNOWN_FAULT', 'ERR_UNSUPPORTED']);

/** What to do next, for errors whose message does not say it already. */
const NEXT_STEP: Partial<Record<string, (file: string) => string>> = {
  ERR_CONFIG_READ: (file) => `pass the config with -f PATH (looked for ${file}; default ./drover.yaml)`,
  ERR_CONFIG_INVALID: (file) => `fix the paths listed above; \`drover validate -f ${file}\` checks the file without starting anything`,
};

/**
 * drover's own version, from its package.json (`<root>/dist/cli/main.js` → `<root>/package.json`).
 * yargs' `.version()` without an argument would read the package.json nearest to where yargs is
 * installed: in a consumer project, the project's own.
 */
function readOwnVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
  return pkg.name === 'drover' && typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

function getExitCode(error: unknown): number {
  if (error instanceof DroverError) return USER_ERRORS.has(error.code) ? EXIT_USAGE : EXIT_NODE_FAILED;
  return EXIT_INTERNAL;
}

/**
 * Ends this process the way `git log | head` or `ls | head` end when the reader goes away: killed
 * by SIGPIPE (the shell shows 141), quietly. Node ignores SIGPIPE; adding and removing a listener
 * gives the signal its default action back (libuv restores it when the last watcher stops).
 */
function endAsSigpipe(): never {
  const ignore = () => {};
  process.on('SIGPIPE', ignore);
  process.off('SIGPIPE', ignore);
  raiseSignal('SIGPIPE');
  process.exit(EXIT_SIGPIPE); // only if SIGPIPE could not end it (blocked): the same status for the shell
}

/**
 * stdout or stderr closed by its reader (`drover logs | head`): EPIPE ends the command as
 * {@link endAsSigpipe}; the cluster is not touched (a follower's connection just closes).
 */
function endOnClosedOutput(): void {
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') endAsSigpipe();
    // EIO and the like: a terminal that went away. Nobody is left to read an error message.
    process.exit(EXIT_USAGE);
  };
  process.stdout.on('error', onError);
  process.stderr.on('error', onError);
}

/**
 * Runs a command's action and turns its outcome into the exit code. `ownsOutput`: the foreground
 * `up` handles a closed stdout itself (it stops the cluster: nobody watches it any more).
 */
async function run(file: string, action: () => Promise<number>, { ownsOutput = false }: { ownsOutput?: boolean } = {}): Promise<void> {
  if (!ownsOutput) endOnClosedOutput();
  try {
    process.exitCode = await action();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`drover: ${message}\n`);
    const next = error instanceof DroverError ? NEXT_STEP[error.code]?.(file) : undefined;
    if (next !== undefined) process.stderr.write(`drover: ${next}\n`);
    if (!(error instanceof DroverError)) {
      process.stderr.write(process.env.DROVER_DEBUG ? `${(error as Error).stack}\n` : 'drover: this is a bug in drover; rerun with DROVER_DEBUG=1 for the stack trace and report it\n');
    }
    process.exitCode = getExitCode(error);
  }
}

/** A duration flag (`30s`, `1.5m`, `250ms`, or milliseconds) in ms; the error names the flag. */
async function parseDurationFlag(flag: string, value: unknown): Promise<number | null> {
  if (value === undefined) return null;
  const { parseDurationOption } = await import('../config/index.js');
  return parseDurationOption(`--${flag}`, value);
}

const fileOption = {
  alias: 'f',
  type: 'string',
  default: 'drover.yaml',
  describe: 'config file (drover.yaml or .json, or a Procfile: named Procfile or Procfile.*); repeat to merge several in order; the first also finds the running cluster',
  // yargs makes an array of a repeated option: the files merge in order; the first names the cluster.
  coerce: takeConfigFiles,
} as const;

const profileOption = {
  type: 'string',
  array: true,
  requiresArg: true,
  describe: 'enable a profile: nodes with `profiles: [NAME]` join the cluster (repeatable or comma-separated; also DROVER_PROFILES)',
} as const;

const jsonOption = { type: 'boolean', default: false, describe: 'machine-readable output' } as const;
const timestampsOption = { alias: 't', type: 'boolean', default: false, describe: 'prefix lines with the time they were read (HH:MM:SS.mmm)' } as const;

/** `drover kill`'s signal when none is given. */
const KILL_DEFAULT_SIGNAL = 'SIGKILL';

/** Commands whose positionals are node names, for shell completion. */
const NODE_COMMANDS = new Set(['logs', 'start', 'stop', 'restart', 'kill', 'scale']);

const ENVIRONMENT_HELP = [
  'Environment:',
  '  DROVER_STATE_DIR           state dir: control socket, lock, up.log (default: one per config under\n                             $XDG_RUNTIME_DIR/drover or the temp dir; must be yours, mode 0700;\n                             `run`: one per run unless set)',
  '  DROVER_CLIENT_TIMEOUT      how long a command waits for the manager to answer (default 10s)',
  '  DROVER_PROFILES            profiles to enable, comma-separated (as --profile)',
  '  DROVER_SHEPHERD            shepherd binary (default: the one npm install built)',
  '  DROVER_SHEPHERD_VERBOSITY  shepherd diagnostics: 0 fatal, 1 warn (default), 2 info, 3 debug',
  '  DROVER_CGROUP              off: no cgroup v2 containment; a path: the parent cgroup',
  '  DROVER_DEBUG               print stack traces of internal errors',
  '  NO_COLOR, FORCE_COLOR      color control (NO_COLOR wins)',
  '  OTEL_*                     OpenTelemetry SDK settings (nothing is exported unless set)',
].join('\n');

/** `drover up`'s command line, from yargs or from {@link readQuickCommandLine}. */
type UpArgs = Omit<UpCommandOptions, 'nodes'> & { readonly file: string; readonly nodes: readonly string[] | undefined; readonly background: boolean };

/** `drover up`: in the foreground, or (`-d`, `--wait`) started in the background. */
function runUpCommand(argv: UpArgs): Promise<void> {
  return run(
    argv.file,
    async () => {
      const options = { file: argv.file, files: getConfigFiles(argv.file), profiles: getProfiles(argv.profile), strict: argv.strict, detach: argv.detach || argv.wait, wait: argv.wait, timestamps: argv.timestamps, tty: argv.tty, background: argv.background, ...getUpSubset(argv.nodes, argv.deps) };
      // The detaching `up` only waits: it loads neither the cluster nor telemetry code.
      return options.detach ? (await import('./up-detached.js')).runDetached(options) : (await import('./up.js')).runUp(options);
    },
    { ownsOutput: !(argv.detach || argv.wait) },
  );
}

/** `drover ps`, from yargs or from {@link readQuickCommandLine}. */
const runPsCommand = (file: string, json: boolean) => run(file, async () => (await loadClient()).runPs({ file, json }));

/** `drover validate`. */
const runValidateCommand = (file: string, argv: { readonly profile: readonly string[] | undefined; readonly strict: boolean; readonly json: boolean }) =>
  run(file, async () => (await import('./validate.js')).runValidate({ file, files: getConfigFiles(file), profiles: getProfiles(argv.profile), strict: argv.strict, json: argv.json }));

/** `drover analyze`. */
const runAnalyzeCommand = (file: string, json: boolean) => run(file, async () => (await import('./analyze.js')).runAnalyze({ file, json }));

/** `drover down`. */
const runDownCommand = (file: string, timeout: string | undefined) =>
  run(file, async () => (await loadClient()).runDown({ file, timeoutMs: await parseDurationFlag('timeout', timeout) }));

/** `drover start|stop|restart|kill NODE…`; `signal` only for kill (yargs's default SIGKILL). */
const runNodeActionCommand = (action: NodeAction, file: string, nodes: readonly string[], signal: string | undefined) =>
  run(file, async () => (await loadClient()).runNodeAction({ file, nodes: [...nodes], action, signal: signal ?? null }));

type NodeActionArgs = { file: string; nodes: string[]; signal: string | undefined };

function nodeAction(action: NodeAction, describe: string): CommandModule<{ file: string }, NodeActionArgs> {
  return {
    command: `${action} <nodes..>`,
    describe,
    builder: (y) => {
      let b = y.positional('nodes', { type: 'string', array: true, demandOption: true, describe: 'node names' });
      if (action === 'kill') {
        b = b
          .option('signal', { alias: 's', type: 'string', default: KILL_DEFAULT_SIGNAL, describe: 'signal name (SIGTERM, term, USR1 ...) or number' })
          .example('$0 kill b', 'SIGKILL node b; its restart policy applies')
          .example('$0 kill a b -s SIGUSR1', 'send SIGUSR1 to nodes a and b');
      } else {
        b = b.example(`$0 ${action} a`, `${action} node a`).example(`$0 ${action} a b -f examples/ring/drover.yaml`, `${action} nodes a and b of the example ring`);
      }
      return b as unknown as Argv<NodeActionArgs>;
    },
    handler: (argv) => runNodeActionCommand(action, argv.file, argv.nodes ?? [], argv.signal),
  };
}

/** `up NODE…` / `--no-deps` as runUp options (none without names: every node starts). */
function getUpSubset(nodes: readonly string[] | undefined, deps: boolean): { only?: string[]; noDeps?: boolean } {
  if (nodes === undefined || nodes.length === 0) {
    if (!deps) throw new DroverError('ERR_INVALID_OPTION', 'drover up: --no-deps needs node names (`drover up --no-deps NODE…`)', {});
    return {};
  }
  return { only: nodes.map(String), noDeps: !deps };
}

/** A command line {@link readQuickCommandLine} read, run as yargs would have run it (`-f`'s default and coerce, kill's default signal). */
async function runQuickCommand(quick: QuickCommand): Promise<void> {
  const file = takeConfigFiles(quick.files.length === 0 ? fileOption.default : quick.files);
  switch (quick.command) {
    case 'up':
      return runUpCommand({ ...quick, file, background: false });
    case 'ps':
      return runPsCommand(file, quick.json);
    case 'analyze':
      return runAnalyzeCommand(file, quick.json);
    case 'validate':
      return runValidateCommand(file, quick);
    case 'down':
      return runDownCommand(file, quick.timeout);
    default:
      return runNodeActionCommand(quick.command, file, quick.nodes, quick.command === 'kill' ? (quick.signal ?? KILL_DEFAULT_SIGNAL) : undefined);
  }
}

/**
 * The command line through yargs, imported here rather than at the top: the background `up` of
 * `up --detach` ({@link BACKGROUND_UP_ARG}) takes its options as JSON and never loads it.
 */
async function parseCommandLine(): Promise<void> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  await yargs(hideBin(process.argv))
    .scriptName('drover')
    // drover's own text is English. yargs would otherwise translate its few words ("Options:")
    // from LANG or LC_ALL, and only where its locale files sit beside it, which the published
    // bundle does not ship: one language, whatever the build.
    .locale('en')
    .usage('$0 <command> [options]\n\nSupervise a cluster of named processes described by drover.yaml.')
    .option('file', fileOption)
    .command(
      'up [nodes..]',
      'start the cluster in the foreground (Ctrl-C = graceful down, twice = SIGKILL all)',
      (y) =>
        y
          .positional('nodes', { type: 'string', array: true, describe: 'start only these nodes and their dependencies (the others stay pending until `drover start`)' })
          .option('deps', { type: 'boolean', default: true, describe: 'with NODE...: also start their dependencies (--no-deps: exactly those nodes, as docker compose)' })
          .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'start in the background; return once every node has started (as docker compose up -d)' })
          .option('wait', { type: 'boolean', default: false, describe: 'as docker compose up --wait: start in the background, return once every node is ready (exit 2 if one failed)' })
          .option('timestamps', timestampsOption)
          .option('tty', { type: 'boolean', default: true, describe: 'live status footer on a terminal (--no-tty: plain lines)' })
          .option('strict', { type: 'boolean', default: false, describe: 'unknown config keys are errors' })
          // Set by `up --detach` on the `up` it starts in the background: output to the state dir's up.log.
          .option('background', { type: 'boolean', default: false, hidden: true })
          .option('profile', profileOption)
          .example('$0 up -f examples/ring/drover.yaml', 'run the example ring in this terminal')
          .example('$0 up -d', 'start ./drover.yaml in the background, return once every node started')
          .example('$0 up -f drover.yaml -f drover.dev.yaml --profile debug', 'merge two files; include the nodes of profile debug')
          .example('$0 up --wait', 'the same, but return once every node is ready (exit 2 if a node failed)')
          .example('$0 up --no-tty -t', 'plain, timestamped output (for logs and CI)')
          .example('$0 up -d api', 'start api and the nodes it depends on, in the background'),
      (argv) => runUpCommand(argv),
    )
    .command(
      'run [command..]',
      'start the cluster, wait until ready, run CMD with its addresses in the env, stop it; exit with CMD\'s code (CI)',
      (y) =>
        y
          .usage('$0 run [options] -- CMD [ARGS...]\n\nStart the cluster, wait until every node is ready, run CMD (argv, no shell) with DROVER_<NODE>_<PORT>, DROVER_CLUSTER_JSON, DROVER_CONTROL_SOCKET and DROVER_STATE_DIR in its environment, stop the cluster, exit with CMD\'s exit code. A node failing while CMD runs fails the run (exit 2). A forensic bundle is written on any failure (default ./drover-artifacts/<run-id>), and always with --artifacts. Details: docs/cli.md, drover run.')
          .positional('command', { type: 'string', array: true, describe: 'CMD and its arguments (after --)' })
          .option('artifacts', { type: 'string', describe: 'write the forensic bundle to DIR, whatever the outcome' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "do not stream the nodes' output; print each node's tail on failure" })
          .option('keep-going', { type: 'boolean', default: false, describe: 'a node failing while CMD runs does not fail the run' })
          .option('timestamps', timestampsOption)
          .option('strict', { type: 'boolean', default: false, describe: 'unknown config keys are errors' })
          .option('profile', profileOption)
          .example('$0 run -- npm test', 'run the tests against ./drover.yaml, exit with their code')
          .example('$0 run --artifacts out -q -- node test.mjs', 'keep a forensic bundle in out/, nodes quiet unless the run fails'),
      (argv) =>
        run(argv.file, async () =>
          (await import('./run.js')).runRun({
            file: argv.file,
            files: getConfigFiles(argv.file),
            profiles: getProfiles(argv.profile),
            // After `--` yargs leaves CMD in `_` (behind the command name `run`); without it, in the positional.
            command: [...(argv.command ?? []), ...argv._.slice(1)].map(String),
            artifacts: argv.artifacts ?? null,
            quiet: argv.quiet,
            keepGoing: argv['keep-going'],
            strict: argv.strict,
            timestamps: argv.timestamps,
          }),
        ),
    )
    .command(
      'ps',
      'list nodes: name, replica, state, pid, restarts, uptime, ports, error',
      (y) => y.option('json', jsonOption).example('$0 ps', 'table of the nodes').example('$0 ps --json', 'the same as JSON rows'),
      (argv) => runPsCommand(argv.file, argv.json),
    )
    .command(
      'logs [nodes..]',
      "print nodes' output from their ring buffers (every node when none is named)",
      (y) =>
        y
          .positional('nodes', { type: 'string', array: true, describe: 'node names (default: all)' })
          .option('lines', { alias: 'n', type: 'string', default: '100', describe: 'lines per node, or "all"' })
          .option('follow', { alias: 'F', type: 'boolean', default: false, describe: 'keep printing new lines until the cluster stops' })
          .option('since', { type: 'string', describe: 'only lines from the last DURATION (30s, 5m ...)' })
          .option('stream', { choices: ['stdout', 'stderr'] as const, describe: 'only this stream' })
          .option('timestamps', timestampsOption)
          .option('json', { ...jsonOption, describe: 'NDJSON lines { node, stream, text, seq, time }' })
          .example('$0 logs a -n 20 --follow', 'last 20 lines of node a, then follow')
          .example('$0 logs a b --since 30s --stream stderr', "stderr of a and b from the last 30 s")
          .example('$0 logs --json -n all', 'everything buffered, as NDJSON'),
      (argv) =>
        run(argv.file, async () => {
          const lines = argv.lines === 'all' ? null : Number(argv.lines);
          if (lines !== null && !(Number.isSafeInteger(lines) && lines >= 0)) {
            throw new DroverError('ERR_INVALID_OPTION', `Expected \`--lines\` to be a whole number ≥ 0 or "all", got ${JSON.stringify(argv.lines)} (string)`);
          }
          return (await loadClient()).runLogs({
            file: argv.file,
            nodes: argv.nodes ?? [],
            lines,
            follow: argv.follow,
            sinceMs: await parseDurationFlag('since', argv.since),
            stream: argv.stream ?? null,
            json: argv.json,
            timestamps: argv.timestamps,
          });
        }),
    )
    .command(nodeAction('start', 'start nodes of the running cluster (a dependency that is down first); returns once they are ready'))
    .command(nodeAction('stop', 'stop nodes (stop signal, SIGKILL after their stop timeout)'))
    .command(nodeAction('restart', 'stop and start nodes; returns once they are ready again'))
    .command(nodeAction('kill', "send a signal to nodes' process groups (default SIGKILL; restart policy applies)"))
    .command(
      'scale <node> <replicas>',
      'set the number of replicas of a node; returns once added replicas are ready',
      (y) =>
        y
          .positional('node', { type: 'string', demandOption: true, describe: 'node name' })
          .positional('replicas', { type: 'string', demandOption: true, describe: 'replica count (0 stops them all)' })
          .example('$0 scale b 3', 'run three replicas of b, each with its own ports')
          .example('$0 scale b 1', 'back to one (the highest replicas stop first)'),
      (argv) =>
        run(argv.file, async () => {
          const replicas = Number(argv.replicas);
          if (!/^\d+$/.test(argv.replicas)) {
            throw new DroverError('ERR_INVALID_OPTION', `Expected \`replicas\` to be a whole number ≥ 0, got ${JSON.stringify(argv.replicas)} (string)`);
          }
          return (await loadClient()).runScale({ file: argv.file, node: argv.node, replicas });
        }),
    )
    .command('fault', 'inject and heal faults in the running cluster (see `drover fault --help`)', async (y) =>
      (await import('./fault-commands.js')).registerFaultCommands(y, run),
    )
    .command(
      'config',
      'print the resolved config: templates filled in, allocated ports, the env drover adds',
      (y) =>
        y
          .option('json', { ...jsonOption, describe: 'JSON instead of YAML' })
          .option('sources', { type: 'boolean', default: false, describe: 'the config files as composed (-f files merged, include, extends, profiles), each value with the file it came from; no running cluster needed' })
          .option('profile', profileOption)
          .option('from', { type: 'string', requiresArg: true, describe: 'print the drover.yaml equivalent of this Procfile (no running cluster needed)' })
          .example('$0 config', 'the running cluster as it was started, in YAML')
          .example('$0 config --from Procfile > drover.yaml', 'turn a Procfile into a drover.yaml')
          .example('$0 config --json', 'the same as JSON')
          .example('$0 config -f drover.yaml -f drover.ci.yaml --sources', 'which file each value comes from'),
      (argv) =>
        run(argv.file, async () =>
          argv.from !== undefined
            ? (await import('./config-from.js')).runConfigFrom({ path: argv.from, json: argv.json })
            : argv.sources
            ? (await import('./config-sources.js')).runConfigSources({ files: getConfigFiles(argv.file), profiles: getProfiles(argv.profile), json: argv.json })
            : (await loadClient()).runConfig({ file: argv.file, files: getConfigFiles(argv.file), profiles: getProfiles(argv.profile), json: argv.json }),
        ),
    )
    .command(
      'down',
      'gracefully stop the running cluster; the `up` process exits 0',
      (y) =>
        y
          .option('timeout', { type: 'string', describe: 'after this long, SIGKILL the nodes still stopping (30s, 1m ...)' })
          .example('$0 down', 'stop the cluster of ./drover.yaml')
          .example('$0 down --timeout 5s -f examples/ring/drover.yaml', 'stop the ring; SIGKILL what is still running after 5 s'),
      (argv) => runDownCommand(argv.file, argv.timeout),
    )
    .command(
      'validate',
      'check the config: every problem with its path; exit 1 when invalid',
      (y) =>
        y
          .option('strict', { type: 'boolean', default: false, describe: 'unknown keys are errors' })
          .option('json', { ...jsonOption, describe: 'print { valid, errors, warnings, ... } as JSON' })
          .option('profile', profileOption)
          .example('$0 validate -f drover.yaml --strict', 'validate strictly')
          .example('$0 validate --json', 'machine-readable result'),
      (argv) => runValidateCommand(argv.file, argv),
    )
    .command(
      'graph',
      'print the dependency graph of the config (Mermaid, JSON or DOT); no running cluster needed',
      (y) =>
        y
          .option('format', { choices: ['mermaid', 'json', 'dot'] as const, default: 'mermaid' as const, describe: 'mermaid: a flowchart for Markdown; json: { nodes, edges: [{ from, to, condition }] }; dot: Graphviz' })
          .option('profile', profileOption)
          .example('$0 graph', 'a Mermaid flowchart: arrows from each dependency to the node that waits for it, labelled with the condition')
          .example('$0 graph --format dot | dot -Tsvg > graph.svg', 'draw it with Graphviz'),
      (argv) => run(argv.file, async () => (await import('./graph.js')).runGraph({ files: getConfigFiles(argv.file), profiles: getProfiles(argv.profile), format: argv.format })),
    )
    .command(
      'analyze',
      "the running cluster's startup critical chain (like systemd-analyze critical-chain): when each node was spawned, ready, what it waited on",
      (y) => y.option('json', jsonOption).example('$0 analyze', 'table of the nodes and the chain that decided the start time').example('$0 analyze --json', 'the same as JSON'),
      (argv) => runAnalyzeCommand(argv.file, argv.json),
    )
    .completion('completion', 'print a bash/zsh completion script (source it from ~/.bashrc or ~/.zshrc)', (current: string, argv: { _: unknown[]; file?: string }, defaultCompletion: () => void, done: (completions: string[]) => void) => {
      const command = String(argv._[0] ?? '');
      if (NODE_COMMANDS.has(command) && !current.startsWith('-')) {
        import('../config/index.js').then(({ loadConfig }) => loadConfig(argv.file ?? 'drover.yaml')).then(
          ({ spec }) => done(spec.nodes.map((n) => n.name)),
          () => done([]), // no readable config here: nothing to offer
        );
        return;
      }
      defaultCompletion();
    })
    .epilogue(`${ENVIRONMENT_HELP}\n\nExit codes:\n${EXIT_CODE_HELP}`)
    .demandCommand(1, 'name a command; see `drover --help`')
    .strict()
    .recommendCommands()
    .fail((message, error) => {
      // yargs wraps what an option's coerce throws (our DroverError) in a YError: a usage error like
      // its own messages. Anything else is a bug.
      if (error && error.name !== 'YError' && !(error instanceof DroverError)) throw error;
      process.stderr.write(`drover: ${error?.message ?? message}\nRun \`drover --help\` for usage, or \`drover <command> --help\` for a command's options and examples.\n`);
      process.exit(EXIT_USAGE);
    })
    .help()
    .alias('help', 'h')
    .version(readOwnVersion())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .parseAsync();
}

/**
 * The CLI's entry. Not a top-level await: the published CLI is a CommonJS bundle (it starts
 * faster than ES modules on Node 20; scripts/bundle.mjs), and CommonJS has none.
 */
async function main(): Promise<void> {
  if (process.argv[2] === BACKGROUND_UP_ARG) {
    // The background `up` of `up --detach`: options, config and warnings as the detaching `up` loaded them.
    // Inside run(): a hand-over that is missing or cut short is an error message, not a stack trace.
    return run(
      BACKGROUND_UP_ARG,
      async () => {
        // up.js and the cluster code it imports load while the detaching `up` still loads and
        // validates the config: it starts this process before that, so both Node starts overlap.
        const loading = import('./up.js');
        loading.catch(() => {}); // a failed import is reported where it is awaited, below
        const request = await readBackgroundUpRequest(process.stdin);
        if ('cancelled' in request) return cleanUpCancelledStart(request);
        return (await loading).runUp({ ...request.options, loaded: { spec: request.spec, warnings: request.warnings } });
      },
      { ownsOutput: true },
    );
  } else {
    // The client commands users wait on most skip yargs when their command line is a plain one
    // (cli/quick-command-line.ts); everything else, and all of it with DROVER_CLI_QUICK=0, goes to yargs.
    const quick = process.env.DROVER_CLI_QUICK === '0' ? null : readQuickCommandLine(process.argv.slice(2));
    return quick === null ? parseCommandLine() : runQuickCommand(quick);
  }
}

void main();
