/**
 * `drover fault …`: inject and heal faults in the running cluster through its control API
 * (`/v1/faults`), and list the active ones. Each fault kind adds its subcommand here.
 */
import type { Argv } from 'yargs';
import { parseDurationOption } from '../config/duration.js';
import { DroverError } from '../contract/errors.js';
import { describeFaultTarget } from '../contract/fault-target.js';
import type { FaultRecord } from '../contract/types.js';
import { requestJson } from './control-client.js';
import { EXIT_OK } from './exit-codes.js';
import { formatDuration } from './status-view.js';
import { getStatePaths } from './state-dir.js';

/** Runs a client action with the CLI's error handling (cli/main.ts `run`). */
export type RunAction = (file: string, action: () => Promise<number>) => Promise<void>;

/** Registers the `fault` subcommands on `y`. */
export function registerFaultCommands(y: Argv<{ file: string }>, run: RunAction): Argv<{ file: string }> {
  return y
    .command(
      'ls',
      'list the active faults: id, kind, nodes, what, since when, who asked',
      (b) => b.option('json', { type: 'boolean', default: false, describe: 'one JSON object per line' }),
      (argv) => run(argv.file, () => runFaultLs({ file: argv.file, json: argv.json })),
    )
    .command(
      'heal [id]',
      'heal one fault (by id, from `fault ls`) or, with --all, every active fault',
      (b) =>
        b
          .positional('id', { type: 'string', describe: 'fault id, e.g. f3' })
          .option('all', { type: 'boolean', default: false, describe: 'heal every active fault' })
          .check((a) => {
            if ((a.id === undefined) === !a.all) throw new DroverError('ERR_INVALID_OPTION', 'give a fault id or --all (not both)');
            return true;
          })
          .example('$0 fault heal f2', 'undo fault f2')
          .example('$0 fault heal --all', 'undo every fault'),
      (argv) => run(argv.file, () => runFaultHeal({ file: argv.file, id: argv.all ? null : (argv.id ?? null) })),
    )
    .command(
      'pause <node>',
      "freeze every process of a node (its whole tree) until `fault resume`; liveness probes are suspended unless --keep-probes",
      (b) =>
        b
          .positional('node', { type: 'string', demandOption: true, describe: 'node name (every replica)' })
          .option('keep-probes', { type: 'boolean', default: false, describe: 'keep liveness probes running: the frozen node fails them and is restarted' })
          .example('$0 fault pause db', "db's clients time out until `drover fault resume db`"),
      (argv) => run(argv.file, () => runProcessFault({ file: argv.file, kind: 'pause', node: argv.node, query: argv.keepProbes ? { probes: 'keep' } : {} })),
    )
    .command(
      'resume <node>',
      'thaw a paused node (back to ready)',
      (b) => b.positional('node', { type: 'string', demandOption: true, describe: 'node name (every replica)' }),
      (argv) => run(argv.file, () => runProcessFault({ file: argv.file, kind: 'resume', node: argv.node, query: {} })),
    )
    .command(
      'crash <node>',
      'SIGKILL the whole tree of a node; the restart policy applies unless --no-restart (then it stays down until `drover start`)',
      (b) =>
        b
          .positional('node', { type: 'string', demandOption: true, describe: 'node name (every running replica)' })
          .option('restart', { type: 'boolean', default: true, describe: 'let the restart policy restart it (--no-restart: keep it down)' })
          .example('$0 fault crash api', 'kill api as a crash would; it restarts per its policy')
          .example('$0 fault crash api --no-restart', 'kill api and keep it down until `drover start api`'),
      (argv) => run(argv.file, () => runProcessFault({ file: argv.file, kind: 'crash', node: argv.node, query: argv.restart ? {} : { restart: 'false' } })),
    )
    .command(
      'partition <groups..>',
      'cut the links between groups of nodes, both ways (needs network: { faults: true })',
      (b) =>
        b
          .positional('groups', { type: 'string', array: true, describe: 'nodes to isolate (a or a,b), or two groups split by "/": a,b / c' })
          .option('from', { type: 'string', describe: 'cut the nodes off from these (comma-separated) only; default: every other node' })
          .option('one-way', { type: 'boolean', default: false, describe: 'cut only the links from the first group to the other' })
          .option('port', { type: 'string', describe: 'only this port of the nodes reached' })
          .example('$0 fault partition a', 'isolate a from every other node')
          .example('$0 fault partition a --from b,c', 'cut a off from b and c')
          .example('$0 fault partition a,b / c', 'a and b reach each other, not c; c reaches neither'),
      (argv) => run(argv.file, () => runLinkFault({ file: argv.file, kind: 'partition', ...getPartitionGroups(argv.groups ?? [], argv.from), bothWays: !argv['one-way'], port: argv.port ?? null, query: {} })),
    )
    .command(
      'latency <from> <to> <delay>',
      'delay the answers on the links from <from> to <to>: round trips grow by <delay> (needs network: { faults: true })',
      (b) =>
        withLinkArgs(b)
          .positional('delay', { type: 'string', demandOption: true, describe: 'added round trip: 200ms, 1s, or ms' })
          .option('jitter', { type: 'string', default: '0', describe: '+/- random part of the delay: 20ms' })
          .option('both-ways', { type: 'boolean', default: false, describe: 'also the links from <to> to <from>' })
          .example('$0 fault latency a b 200ms', 'a -> b round trips take 200 ms longer'),
      (argv) =>
        run(argv.file, () =>
          runLinkFault({
            file: argv.file,
            kind: 'latency',
            from: splitNodes(argv.from),
            to: splitNodes(argv.to),
            bothWays: argv['both-ways'],
            port: argv.port ?? null,
            query: { ms: String(parseDurationOption('<delay>', argv.delay)), jitterMs: String(parseDurationOption('--jitter', argv.jitter)) },
          }),
        ),
    )
    .command(
      'bandwidth <from> <to> <bytesPerSec>',
      'limit each connection on the links from <from> to <to> to <bytesPerSec> bytes per second each way (needs network: { faults: true })',
      (b) =>
        withLinkArgs(b).positional('bytesPerSec', { type: 'number', demandOption: true, describe: 'bytes per second' }),
      (argv) => run(argv.file, () => runLinkFault({ file: argv.file, kind: 'bandwidth', from: splitNodes(argv.from), to: splitNodes(argv.to), bothWays: false, port: argv.port ?? null, query: { bytesPerSec: String(argv.bytesPerSec) } })),
    )
    .command(
      'blackhole <from> <to>',
      'swallow the bytes on the links from <from> to <to>: no answer comes (needs network: { faults: true })',
      (b) =>
        withLinkArgs(b),
      (argv) => run(argv.file, () => runLinkFault({ file: argv.file, kind: 'blackhole', from: splitNodes(argv.from), to: splitNodes(argv.to), bothWays: false, port: argv.port ?? null, query: {} })),
    )
    .command(
      'reset <from> <to>',
      'RST every open connection on the links from <from> to <to> (needs network: { faults: true })',
      (b) =>
        withLinkArgs(b),
      (argv) => run(argv.file, () => runLinkFault({ file: argv.file, kind: 'reset', from: splitNodes(argv.from), to: splitNodes(argv.to), bothWays: false, port: argv.port ?? null, query: {} })),
    )
    .command(
      'clock <node> [offset]',
      "skew a node's wall clock: offset it (+90s, -1h after --) and/or change its speed (--rate); the node needs clock: true",
      (b) =>
        b
          .positional('node', { type: 'string', demandOption: true, describe: 'node name, or a replica: b[1]' })
          .positional('offset', { type: 'string', describe: 'offset from real time: +90s, 250ms, 2h, 1d (a negative one after --: -- -1h)' })
          .option('rate', { type: 'number', describe: 'speed of the clock from now on: 2 = twice as fast, 0.5 = half speed, 1 = real' })
          .check((a) => {
            if (a.offset === undefined && a.rate === undefined && offsetAfterDashes(a._) === undefined) throw new DroverError('ERR_INVALID_OPTION', 'give an offset (+90s) and/or --rate');
            return true;
          })
          .example('$0 fault clock a +90s', "node a's clock 90 s ahead")
          .example('$0 fault clock a +0s --rate 2', "node a's clock runs twice as fast")
          .example('$0 fault clock b[1] -- -1h', "replica 1 of b one hour behind"),
      (argv) => run(argv.file, () => runFaultClock({ file: argv.file, node: argv.node, offset: argv.offset ?? offsetAfterDashes(argv._) ?? null, rate: argv.rate ?? null })),
    )
    .demandCommand(1, 'give a fault command: ls, heal, pause, resume, crash, partition, latency, bandwidth, blackhole, reset, clock ...');
}

/** `drover fault ls`. */
export async function runFaultLs(options: { file: string; json: boolean }): Promise<number> {
  const { faults } = await requestJson<{ faults: FaultRecord[] }>(getStatePaths(options.file), options.file, 'GET', '/v1/faults');
  if (options.json) {
    for (const fault of faults) process.stdout.write(`${JSON.stringify(fault)}\n`);
    return EXIT_OK;
  }
  if (faults.length === 0) {
    process.stdout.write('no active faults\n');
    return EXIT_OK;
  }
  const now = Date.now();
  const rows = faults.map((f) => [f.id, f.kind, describeFaultTarget(f, ' → '), f.detail, `${formatDuration(now - f.since)} ago`, f.by]);
  const header = ['ID', 'KIND', 'NODES', 'WHAT', 'SINCE', 'BY'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  return EXIT_OK;
}

/** `drover fault heal <id>` / `--all` (id null). */
export async function runFaultHeal(options: { file: string; id: string | null }): Promise<number> {
  const query = options.id === null ? '' : `?id=${encodeURIComponent(options.id)}`;
  const { healed } = await requestJson<{ healed: string[] }>(getStatePaths(options.file), options.file, 'POST', `/v1/faults/heal${query}`, { wait: 'operation' });
  process.stdout.write(healed.length === 0 ? 'nothing to heal\n' : `healed ${healed.join(', ')}\n`);
  return EXIT_OK;
}

/** `drover fault pause|resume|crash <node>`: POST /v1/faults/<kind>?node=…; prints what was done. */
export async function runProcessFault(options: { file: string; kind: 'pause' | 'resume' | 'crash'; node: string; query: Record<string, string> }): Promise<number> {
  const query = new URLSearchParams({ node: options.node, ...options.query });
  const answer = await requestJson<{ ok: true; replicas: number }>(getStatePaths(options.file), options.file, 'POST', `/v1/faults/${options.kind}?${query}`, { wait: 'operation' });
  const replicas = `${answer.replicas} replica${answer.replicas === 1 ? '' : 's'}`;
  const done = { pause: `paused ${options.node} (${replicas}); \`drover fault resume ${options.node}\` thaws it`, resume: `resumed ${options.node}`, crash: `crashed ${options.node} (${replicas} killed)` };
  process.stdout.write(`${done[options.kind]}\n`);
  return EXIT_OK;
}

/** The `<from> <to>` positionals and `--port` of every link fault command. */
function withLinkArgs<T>(b: Argv<T>) {
  return b
    .positional('from', { type: 'string', demandOption: true, describe: 'node(s) opening the connections (comma-separated), or external' })
    .positional('to', { type: 'string', demandOption: true, describe: 'node(s) reached (comma-separated)' })
    .option('port', { type: 'string', describe: 'only this port of the nodes reached' });
}

function splitNodes(text: string): string[] {
  return text.split(',').map((n) => n.trim()).filter(Boolean);
}

/**
 * `partition a`, `partition a --from b,c`, `partition a,b / c` (also `a,b/c`) → the two sides;
 * `to` null means every other node.
 * @throws {DroverError} ERR_INVALID_OPTION for more than two groups, an empty group, or both "/" and --from.
 */
export function getPartitionGroups(words: readonly (string | number)[], from: string | undefined): { from: string[]; to: string[] | null } {
  const groups = words.map(String).join(' ').split('/').map((group) => group.split(/[\s,]+/).filter(Boolean));
  if (groups.length > 2 || groups.some((g) => g.length === 0)) {
    throw new DroverError('ERR_INVALID_OPTION', `expected \`partition NODES\`, \`partition NODES --from NODES\` or \`partition NODES / NODES\` (nodes comma-separated), got ${JSON.stringify(words.join(' '))}`);
  }
  if (groups.length === 2 && from !== undefined) throw new DroverError('ERR_INVALID_OPTION', 'give the other side either after "/" or with --from, not both');
  const to = groups.length === 2 ? groups[1]! : from === undefined ? null : splitNodes(from);
  return { from: groups[0]!, to };
}

/** `drover fault partition|latency|bandwidth|blackhole|reset`: POST /v1/faults/<kind>, prints the faults made. */
export async function runLinkFault(options: {
  file: string;
  kind: 'partition' | 'latency' | 'bandwidth' | 'blackhole' | 'reset';
  from: readonly string[];
  to: readonly string[] | null;
  bothWays: boolean;
  port: string | null;
  query: Record<string, string>;
}): Promise<number> {
  const query = new URLSearchParams({ from: options.from.join(','), ...(options.to === null ? {} : { to: options.to.join(',') }), ...(options.port === null ? {} : { port: options.port }), bothWays: options.bothWays ? '1' : '0', by: 'cli', ...options.query });
  const { faults } = await requestJson<{ faults: FaultRecord[] }>(getStatePaths(options.file), options.file, 'POST', `/v1/faults/${options.kind}?${query}`, { wait: 'operation' });
  for (const f of faults) process.stdout.write(`${f.id}  ${describeFaultTarget(f, ' → ')}  ${f.detail}\n`);
  return EXIT_OK;
}

/** A negative offset given after `--` (`fault clock a -- -1h`): yargs leaves it after the command words. */
function offsetAfterDashes(words: readonly (string | number)[]): string | undefined {
  const extra = words.slice(2);
  return extra.length === 1 ? String(extra[0]) : undefined;
}

/** `drover fault clock <node> [offset] [--rate r]`. */
export async function runFaultClock(options: { file: string; node: string; offset: string | null; rate: number | null }): Promise<number> {
  const query = new URLSearchParams({ node: options.node });
  if (options.offset !== null) query.set('offset', options.offset);
  if (options.rate !== null) query.set('rate', String(options.rate));
  const { fault } = await requestJson<{ fault: FaultRecord }>(getStatePaths(options.file), options.file, 'POST', `/v1/faults/clock?${query.toString()}`, { wait: 'operation' });
  process.stdout.write(`${fault.id} ${fault.nodes.join(',')}: ${fault.detail} (heal with: drover fault heal ${fault.id})\n`);
  return EXIT_OK;
}
