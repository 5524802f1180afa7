import { getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterSnapshot, NodeSnapshot, NodeState } from '../contract/types.js';
import type { PendingStop } from './cluster-shutdown.js';
import { paint, type LineSink } from './printer.js';
import { summarizeStart, type JobCodes } from './start-summary.js';

const STATE_COLORS: Record<NodeState, number> = {
  pending: 2,
  starting: 33,
  running: 36,
  ready: 32,
  paused: 34,
  stopping: 35,
  stopped: 2,
  exited: 2,
  backoff: 33,
  failed: 31,
};

/** More replicas than this: the footer shows counts per state instead of one line per node. */
const MAX_NODE_LINES = 12;

// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;

/** Cuts `line` to `columns` visible characters (SGR sequences kept, not counted), so it never wraps. */
export function fitLine(line: string, columns: number): string {
  if (line.replace(SGR, '').length <= columns) return line;
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    SGR.lastIndex = i;
    const match = SGR.exec(line);
    if (match !== null && match.index === i) {
      out += match[0];
      i += match[0].length;
      continue;
    }
    if (visible >= columns - 1) break;
    out += line[i];
    visible++;
    i++;
  }
  return `${out}…\x1b[0m`;
}

/** `http=4101,admin=4102`, or `-` for none. */
export function formatPorts(ports: Readonly<Record<string, number>>): string {
  const entries = Object.entries(ports);
  return entries.length === 0 ? '-' : entries.map(([name, port]) => `${name}=${port}`).join(',');
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** What the footer shows. */
export interface StatusModel {
  readonly snapshot: ClusterSnapshot;
  readonly phase: 'starting' | 'running' | 'stopping';
  /** Set while stopping: what each node still waits for. */
  readonly pending: readonly PendingStop[] | null;
  readonly now: number;
  readonly color: boolean;
  /** The config's node names in order: a node without replicas gets a `scaled-to-0` line. @default none */
  readonly declared?: readonly string[];
  /** The cluster's jobs: counted as completed, apart from the nodes that are ready. @default none */
  readonly jobs?: JobCodes;
}

/** The footer: a header line and one line per node replica (or counts per state for many nodes). */
export function getStatusLines(model: StatusModel): string[] {
  const { snapshot, phase, pending, now, color } = model;
  const nodes = snapshot.nodes;
  const summary = summarizeStart(
    nodes.map((n) => ({ name: n.name, replica: n.replica, state: n.state, exitCode: n.lastExit?.exitCode ?? null, error: n.error })),
    model.jobs ?? new Map(),
  );
  const jobs = summary.jobs === 0 ? '' : ` · ${summary.completed}/${summary.jobs} job${summary.jobs === 1 ? '' : 's'} completed`;
  const hint = phase === 'stopping' ? 'stopping · Ctrl-C again kills every node now' : 'Ctrl-C stops the cluster';
  const lines = [paint(`── ${snapshot.name} · ${summary.ready}/${summary.services} ready${jobs} · ${hint} ──`, 1, color)];
  if (nodes.length > MAX_NODE_LINES) {
    const counts = new Map<NodeState, number>();
    for (const n of nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
    lines.push(`  ${[...counts].map(([state, count]) => paint(`${count} ${state}`, STATE_COLORS[state], color)).join('  ')}`);
    return lines;
  }
  const idle = new Set((model.declared ?? []).filter((name) => !nodes.some((n) => n.name === name)));
  const width = Math.max(...nodes.map((n) => getReplicaLabel(n.name, n.replica).length), ...[...idle].map((name) => name.length));
  // Config order: each node's replicas, or one line for a node that has none.
  const ordered = [...new Set([...(model.declared ?? []), ...nodes.map((n) => n.name)])].flatMap((name): (string | NodeSnapshot)[] => (idle.has(name) ? [name] : nodes.filter((n) => n.name === name)));
  for (const n of ordered) {
    if (typeof n === 'string') {
      lines.push(`  ${n.padEnd(width)}  scaled-to-0 (0 replicas)`);
      continue;
    }
    const label = getReplicaLabel(n.name, n.replica).padEnd(width);
    const state = paint(n.state.padEnd(8), STATE_COLORS[n.state], color);
    const waiting = pending?.find((p) => p.name === n.name && p.replica === n.replica);
    const detail = waiting
      ? waiting.reason
      : [
          n.pid === null ? null : `pid ${n.pid}`,
          Object.keys(n.ports).length === 0 ? null : formatPorts(n.ports),
          n.startedAt === null ? null : `up ${formatDuration(now - n.startedAt)}`,
          n.restarts > 0 ? `restarts ${n.restarts}` : null,
          n.error,
        ]
          .filter((part) => part !== null)
          .join('  ');
    lines.push(`  ${label}  ${state} ${detail}`);
  }
  return lines;
}

/**
 * A live status footer for a TTY: finished lines scroll above it, and the footer is redrawn in
 * place (erase it, write the new lines, draw it again, in one write). Nothing about the terminal
 * is changed (no raw mode, no hidden cursor, no alternate screen), so an `up` that dies leaves at
 * worst a stale footer behind, never a broken terminal.
 */
export class StatusView implements LineSink {
  private footerHeight = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly onResize = () => this.redraw();

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly render: () => string[],
    private readonly refreshMs = 1000,
  ) {}

  start(): void {
    this.redraw();
    this.timer = setInterval(() => this.redraw(), this.refreshMs);
    this.timer.unref();
    this.out.on('resize', this.onResize);
  }

  writeLine(line: string): void {
    if (this.out.destroyed) return; // the terminal went away (EIO): nothing to draw on
    if (this.closed) {
      this.out.write(`${line}\n`);
      return;
    }
    this.out.write(`${this.erase()}${line}\n${this.draw()}`);
  }

  redraw(): void {
    if (!this.closed && !this.out.destroyed) this.out.write(`${this.erase()}${this.draw()}`);
  }

  /** Removes the footer and stops redrawing; later lines are written plainly. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.out.off('resize', this.onResize);
    if (!this.out.destroyed) this.out.write(this.erase());
  }

  private erase(): string {
    const height = this.footerHeight;
    this.footerHeight = 0;
    return height === 0 ? '' : `\r\x1b[${height}A\x1b[J`;
  }

  private draw(): string {
    const columns = Math.max(20, this.out.columns || 80);
    const rows = this.out.rows || 24;
    let lines = this.render().map((line) => fitLine(line, columns));
    if (lines.length > rows - 2) lines = lines.slice(0, Math.max(1, rows - 2));
    this.footerHeight = lines.length;
    return lines.map((line) => `${line}\n`).join('');
  }
}
