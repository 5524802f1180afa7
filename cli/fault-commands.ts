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
    .demandCommand(1, 'give a fault command: ls, heal, pause, resume, crash …');
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

/** `drover fault pause|resume|crash <node>`: POST /v1/faults/<kind>?node=…; prints what was done. */
export async function runProcessFault(options: { file: string; kind: 'pause' | 'resume' | 'crash'; node: string; query: Record<string, string> }): Promise<number> {
  const query = new URLSearchParams({ node: options.node, ...options.query });
  const answer = await requestJson<{ ok: true; replicas: number }>(getStatePaths(options.file), options.file, 'POST', `/v1/faults/${options.kind}?${query}`, { wait: 'operation' });
  const replicas = `${answer.replicas} replica${answer.replicas === 1 ? '' : 's'}`;
  const done = { pause: `paused ${options.node} (${replicas}); \`drover fault resume ${options.node}\` thaws it`, resume: `resumed ${options.node}`, crash: `crashed ${options.node} (${replicas} killed)` };
  process.stdout.write(`${done[options.kind]}\n`);
  return EXIT_OK;
}
