import { unlinkSync } from 'node:fs';
import { loadConfig } from '../config/index.js';
import { Cluster } from '../manager/cluster.js';
import { startTelemetry } from '../telemetry/index.js';
import { ControlServer } from './control-server.js';
import { Printer, shouldUseColor } from './printer.js';
import { createStateDir, getStatePaths } from './state-dir.js';

export interface UpOptions {
  readonly file: string;
  readonly strict: boolean;
}

/**
 * `drover up`: starts the cluster in the foreground, prints node-prefixed output, serves the
 * control API, and on SIGINT/SIGTERM (or `drover down`) stops every node and exits 0. A second
 * SIGINT exits at once; the shepherds then stop their children themselves (hangup path).
 */
export async function runUp(options: UpOptions): Promise<number> {
  const { spec, warnings } = await loadConfig(options.file, { strict: options.strict });
  const printer = new Printer(process.stdout, spec.nodes.map((n) => n.name), shouldUseColor(process.stdout));
  for (const warning of warnings) printer.info(`warning: ${options.file}: ${warning.path}: ${warning.message}`);
  const paths = getStatePaths(options.file);
  createStateDir(paths);
  const cluster = new Cluster(spec);
  let downPromise: Promise<void> | null = null;
  let resolveDown!: () => void;
  const downDone = new Promise<void>((resolve) => {
    resolveDown = resolve;
  });
  const down = (why: string): Promise<void> => {
    downPromise ??= (async () => {
      printer.info(`stopping cluster ${spec.name} (${why})`);
      await cluster.stop();
      resolveDown();
    })();
    return downPromise;
  };
  const server = new ControlServer(cluster, paths, () => down('drover down'));
  await server.listen();
  const telemetry = await startTelemetry({ controller: cluster, spec });
  cluster.subscribe({ onEvent: (event) => printer.event(event) });
  const onSignal = (signal: NodeJS.Signals) => {
    if (downPromise !== null && signal === 'SIGINT') {
      printer.info('second SIGINT: exiting now; shepherds stop the nodes');
      process.exit(130);
    }
    void down(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    printer.info(`starting cluster ${spec.name}: ${spec.nodes.map((n) => n.name).join(', ')} (control socket ${paths.socket})`);
    await cluster.start({ stopOnFailure: false }).then(
      () => {
        const states = cluster.snapshot().nodes;
        const ready = states.filter((n) => n.state === 'ready').length;
        printer.info(`cluster ${spec.name}: ${ready}/${states.length} nodes ready`);
      },
      (error: unknown) => printer.info(`cluster ${spec.name} did not fully start: ${(error as Error).message.split('\n')[0]}`),
    );
    await downDone;
    printer.info(`cluster ${spec.name} stopped`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.close();
    try {
      unlinkSync(paths.socket);
    } catch {
      // Already gone (server.close removes it on some platforms).
    }
    await telemetry.shutdown();
  }
}
