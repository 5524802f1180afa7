/**
 * `drover fault …`: inject and heal faults in the running cluster through its control API
 * (`/v1/faults`), and list the active ones. Each fault kind adds its subcommand here.
 */
import type { Argv } from 'yargs';
import { DroverError } from '../contract/errors.js';
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
    .demandCommand(1, 'give a fault command: ls, heal, clock …');
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
  const rows = faults.map((f) => [f.id, f.kind, f.link === null ? f.nodes.join(',') : `${f.link.from} → ${f.link.to}${f.link.port === null ? '' : `:${f.link.port}`}`, f.detail, `${formatDuration(now - f.since)} ago`, f.by]);
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
