/**
 * `drover fault …`: inject and heal faults in the running cluster through its control API
 * (`/v1/faults`), and list the active ones. Each fault kind adds its subcommand here.
 */
import type { Argv } from 'yargs';
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
            if ((a.id === undefined) === !a.all) throw new Error('give a fault id or --all (not both)');
            return true;
          })
          .example('$0 fault heal f2', 'undo fault f2')
          .example('$0 fault heal --all', 'undo every fault'),
      (argv) => run(argv.file, () => runFaultHeal({ file: argv.file, id: argv.all ? null : (argv.id ?? null) })),
    )
    .demandCommand(1, 'give a fault command: ls, heal …');
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
