import { describeExit } from '../manager/index.js';
import type { ClusterEvent } from '../manager/types.js';

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92];

/** Whether to color output: NO_COLOR wins, FORCE_COLOR forces, else a TTY. */
export function shouldUseColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

/** Prints node output prefixed with the node name (one color per node) and lifecycle lines. */
export class Printer {
  private readonly width: number;
  private readonly colorOf = new Map<string, number>();
  /** `restarting` arrives just before the `backoff` state that carries the exit: print them as one line. */
  private readonly pendingRestart = new Map<string, string>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    nodeNames: readonly string[],
    private readonly color: boolean,
  ) {
    this.width = Math.max(6, ...nodeNames.map((n) => n.length));
    nodeNames.forEach((name, i) => this.colorOf.set(name, COLORS[i % COLORS.length]!));
  }

  /** A line from drover itself. */
  info(text: string): void {
    this.write('drover', 1, text);
  }

  event(event: ClusterEvent): void {
    switch (event.type) {
      case 'output':
        this.write(event.node, this.colorOf.get(event.node) ?? 0, event.line.text);
        return;
      case 'restarting':
        if (event.reason !== 'manual') this.pendingRestart.set(event.node, `restarting in ${event.delayMs} ms (attempt ${event.attempt})`);
        return;
      case 'state': {
        const node = event.node;
        switch (event.to) {
          case 'ready':
            this.info(`${node}: ready (pid ${event.pid ?? '?'})`);
            return;
          case 'exited':
            this.info(`${node}: ${event.exit ? describeExit(event.exit) : 'exited'}`);
            return;
          case 'backoff': {
            const restart = this.pendingRestart.get(node) ?? 'restarting';
            this.pendingRestart.delete(node);
            this.info(`${node}: ${event.exit ? describeExit(event.exit) : 'could not start'}; ${restart}`);
            return;
          }
          case 'failed':
            this.info(`${node}: FAILED: ${event.error ? `${event.error.code}: ${event.error.message}` : 'unknown error'}`);
            return;
          case 'stopped':
            this.info(`${node}: stopped${event.exit ? ` (${describeExit(event.exit)})` : ''}`);
            return;
          default:
            return;
        }
      }
    }
  }

  private write(name: string, color: number, text: string): void {
    const label = name.padEnd(this.width);
    const prefix = this.color ? `\x1b[${color}m${label} |\x1b[0m` : `${label} |`;
    this.out.write(`${prefix} ${text}\n`);
  }
}
