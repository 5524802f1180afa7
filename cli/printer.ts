import { describeFaultTarget } from '../contract/fault-target.js';
import { describeExit, getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterEvent } from '../contract/types.js';

const COLORS = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92];

/** Whether to color output: NO_COLOR (non-empty) wins, FORCE_COLOR (not `0`) forces, else a TTY. */
export function shouldUseColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return stream.isTTY === true;
}

/** Wraps `text` in an SGR color when `color` is on. */
export function paint(text: string, sgr: number | string, color: boolean): string {
  return color ? `\x1b[${sgr}m${text}\x1b[0m` : text;
}

/** `HH:MM:SS.mmm` in local time. */
export function formatClock(time: number): string {
  const d = new Date(time);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `1.2 s` */
export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

/** Where finished lines go: a plain stream, or a {@link StatusView} that keeps a footer below them. */
export interface LineSink {
  writeLine(line: string): void;
}

/** Writes each line to a stream; once the stream failed (EPIPE: the reader went away) lines are dropped. */
export function createStreamSink(out: NodeJS.WritableStream & { destroyed?: boolean }): LineSink {
  return {
    writeLine: (line) => {
      if (out.destroyed !== true) out.write(`${line}\n`);
    },
  };
}

export interface PrinterOptions {
  readonly color: boolean;
  /** Prefix every line with the local time it was read (`HH:MM:SS.mmm`). @default false */
  readonly timestamps?: boolean;
  /** Every prefix the output will carry (e.g. `b[1]` for replicas), for the column width. @default the node names */
  readonly labels?: readonly string[];
  /** Epoch-ms clock for drover's own lines. @default Date.now */
  readonly clock?: () => number;
}

/** Prints node output prefixed with the node name (one color per node) and lifecycle lines. */
export class Printer {
  /** The prefix column: the widest label so far (it only grows, e.g. when `scale` adds `gateway[1]`). */
  private width: number;
  private readonly colorOf = new Map<string, number>();
  /** `restarting` arrives just before the `backoff` state that carries the exit: print them as one line. */
  private readonly pendingRestart = new Map<string, string>();
  private readonly color: boolean;
  private readonly timestamps: boolean;
  private readonly clock: () => number;

  constructor(
    private readonly sink: LineSink,
    nodeNames: readonly string[],
    options: PrinterOptions,
  ) {
    this.color = options.color;
    this.timestamps = options.timestamps ?? false;
    this.clock = options.clock ?? Date.now;
    this.width = Math.max(6, ...(options.labels ?? nodeNames).map((n) => n.length));
    nodeNames.forEach((name, i) => this.colorOf.set(name, COLORS[i % COLORS.length]!));
  }

  /** A line from drover itself. */
  info(text: string): void {
    this.write('drover', 1, text, this.clock());
  }

  /** A line of a node's output; `label` may name a replica (`b[1]`), `node` picks the color. */
  output(label: string, text: string, time: number, node = label): void {
    this.write(label, this.colorOf.get(node) ?? 0, text, time);
  }

  event(event: ClusterEvent): void {
    switch (event.type) {
      case 'output':
        this.output(getReplicaLabel(event.node, event.replica), event.line.text, event.line.time, event.node);
        return;
      case 'scaled':
        // The widest new label widens the column before the line that announces it.
        if (event.to > 0) this.widen(getReplicaLabel(event.node, event.to - 1));
        this.info(`${event.node}: scaled from ${event.from} to ${event.to} replica${event.to === 1 ? '' : 's'}`);
        return;
      case 'fault': {
        // `fault f2 latency a → b 200 ms injected (cli)`: the detail without its repeated kind.
        const { fault } = event;
        const target = describeFaultTarget(fault, ' → ');
        const detail = fault.detail === fault.kind ? '' : fault.detail.startsWith(`${fault.kind} `) ? fault.detail.slice(fault.kind.length + 1) : fault.detail;
        this.write('drover', 1, `fault ${fault.id} ${fault.kind} ${target}${detail === '' ? '' : ` ${detail}`} ${event.phase} (${fault.by})`, event.time);
        return;
      }
      case 'restarting':
        if (event.reason !== 'manual') this.pendingRestart.set(getReplicaLabel(event.node, event.replica), `restarting in ${event.delayMs} ms (attempt ${event.attempt})`);
        return;
      case 'state': {
        const node = getReplicaLabel(event.node, event.replica);
        switch (event.to) {
          case 'ready':
            this.info(`${node}: ${event.from === 'paused' ? 'resumed' : 'ready'} (pid ${event.pid ?? '?'})`);
            return;
          case 'paused':
            this.info(`${node}: paused (pid ${event.pid ?? '?'}: its whole tree is frozen)`);
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
          case 'stopped': {
            // How the stop went: how long after the stop signal, or that SIGKILL was needed.
            const stop = event.stop
              ? event.stop.forcedKill
                ? `, SIGKILL after ${formatSeconds(event.stop.waitedMs)} (${event.stop.signal} did not stop it)`
                : `, ${formatSeconds(event.stop.waitedMs)} after ${event.stop.signal ?? 'its stop command'}`
              : '';
            this.info(`${node}: stopped${event.exit ? ` (${describeExit(event.exit)}${stop})` : ''}`);
            return;
          }
          default:
            return;
        }
      }
    }
  }

  /** A line from drover itself as {@link info} would print it now, without printing it. */
  formatInfo(text: string): string {
    return this.format('drover', 1, text, this.clock());
  }

  private write(name: string, color: number, text: string, time: number): void {
    this.sink.writeLine(this.format(name, color, text, time));
  }

  /** Makes the prefix column at least as wide as `label`: every line from now on lines up with it. */
  widen(label: string): void {
    this.width = Math.max(this.width, label.length);
  }

  private format(name: string, color: number, text: string, time: number): string {
    this.widen(name);
    const label = `${name.padEnd(this.width)} |`;
    const stamp = this.timestamps ? `${paint(formatClock(time), 2, this.color)} ` : '';
    return `${stamp}${paint(label, color, this.color)} ${text}`;
  }
}
