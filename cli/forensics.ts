import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster } from '../cluster/cluster.js';
import { getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterController, ClusterEvent, ReadinessAttemptEvent, Subscription } from '../contract/types.js';
import type { ClusterAnswer } from './control-server.js';

/** Most lifecycle events `events.ndjson` keeps: the last ones (a node restarting in a loop for hours must not grow memory without bound). */
export const MAX_RECORDED_EVENTS = 20_000;

/** Most readiness attempts `readiness.json` keeps per replica: the last ones. */
export const MAX_READINESS_ATTEMPTS = 500;

/** A recorded event: the event as the cluster published it, `time` being epoch ms (added where the event has none). */
type RecordedEvent = Exclude<ClusterEvent, { type: 'output' }> & { readonly time: number };

/**
 * Records what a `drover run` cluster did, for the forensic bundle: every lifecycle event in
 * order (output lines are not events here: they are in the nodes' ring buffers) and each replica's
 * readiness attempts. Bounded by {@link MAX_RECORDED_EVENTS} and {@link MAX_READINESS_ATTEMPTS}.
 */
export class RunRecorder {
  private events: RecordedEvent[] = [];
  /** Events trimmed off the front of `events` so far. */
  private trimmed = 0;
  private readonly attempts = new Map<string, { node: string; replica: number; dropped: number; attempts: ReadinessAttemptEvent[] }>();
  private readonly subscription: Subscription;

  constructor(cluster: Pick<ClusterController, 'subscribe'>, private readonly clock: () => number = Date.now) {
    this.subscription = cluster.subscribe({ wantsOutput: false, onEvent: (event) => this.record(event) });
  }

  private record(event: ClusterEvent): void {
    if (event.type === 'output') return;
    const recorded = ('time' in event && typeof event.time === 'number' ? event : { ...event, time: this.clock() }) as RecordedEvent;
    this.events.push(recorded);
    // Trimmed in batches: one splice per MAX_RECORDED_EVENTS events, not one shift per event.
    if (this.events.length >= 2 * MAX_RECORDED_EVENTS) {
      this.trimmed += this.events.length - MAX_RECORDED_EVENTS;
      this.events = this.events.slice(-MAX_RECORDED_EVENTS);
    }
    if (event.type === 'readiness') {
      const key = `${event.node}\0${event.replica}`;
      let entry = this.attempts.get(key);
      if (entry === undefined) this.attempts.set(key, (entry = { node: event.node, replica: event.replica, dropped: 0, attempts: [] }));
      entry.attempts.push(event);
      if (entry.attempts.length > MAX_READINESS_ATTEMPTS) {
        entry.attempts.shift();
        entry.dropped++;
      }
    }
  }

  /** Events left out of {@link getEvents} (the oldest ones) to keep the timeline bounded. */
  get droppedEvents(): number {
    return this.trimmed + Math.max(0, this.events.length - MAX_RECORDED_EVENTS);
  }

  /** The timeline so far (at most {@link MAX_RECORDED_EVENTS}, the last ones). */
  getEvents(): readonly RecordedEvent[] {
    return this.events.length > MAX_RECORDED_EVENTS ? this.events.slice(-MAX_RECORDED_EVENTS) : this.events;
  }

  /** Readiness attempts by replica, in the order the replicas first reported one. */
  getReadiness(): { node: string; replica: number; droppedAttempts: number; attempts: readonly ReadinessAttemptEvent[] }[] {
    return [...this.attempts.values()].map((e) => ({ node: e.node, replica: e.replica, droppedAttempts: e.dropped, attempts: e.attempts }));
  }

  /** Stops recording. */
  close(): void {
    this.subscription.unsubscribe();
  }
}

/** `summary.json` of a forensic bundle. */
export interface RunSummary {
  /** Unique id of this run (`<UTC time>-<random>`), also the default bundle dir's name. */
  readonly runId: string;
  /** drover's version (package.json). */
  readonly droverVersion: string;
  /** The cluster's name and config file. */
  readonly cluster: string;
  readonly configPath: string;
  /** The state dir the run used (control socket, lock). */
  readonly stateDir: string;
  /** CMD and its arguments, as given. */
  readonly command: readonly string[];
  /** CMD's pid, or null when it never ran. */
  readonly commandPid: number | null;
  /** How CMD ended: its exit code, or the signal that ended it; null when it never ran (or is still unknown). */
  readonly commandExit: { readonly exitCode: number | null; readonly signal: string | null } | null;
  /** The exit code of `drover run`. */
  readonly exitCode: number;
  /**
   * Why the run ended: `command-exited` (CMD's own exit, 0 or not), `node-failed`,
   * `start-failed`, `command-not-run` (CMD could not be spawned), `interrupted` (SIGINT/SIGTERM).
   */
  readonly reason: 'command-exited' | 'node-failed' | 'start-failed' | 'command-not-run' | 'interrupted';
  /** A sentence for people: which node failed and how, the signal received, the spawn error. */
  readonly detail: string | null;
  /** The failed node's replica label (`api`, `api[1]`) when `reason` is `node-failed` (or a start failure names one). */
  readonly failedNode: string | null;
  /** ISO 8601 times the run began (config loaded) and ended (bundle written). */
  readonly startedAt: string;
  readonly endedAt: string;
  /** Lifecycle events left out of events.ndjson (the oldest ones) to keep it bounded. */
  readonly droppedEvents: number;
  /** Spans left out of spans.otlp.json to keep it bounded (the latest ones). */
  readonly droppedSpans: number;
}

/** What {@link writeBundle} writes. */
export interface BundleContents {
  readonly cluster: Cluster;
  readonly recorder: RunRecorder;
  /** `/v1/cluster` as the control API answered at the moment of failure (or at the end), with its `drover ps` table; or why it could not be captured. */
  readonly ps: { readonly answer: ClusterAnswer; readonly table: string } | { readonly error: string } | null;
  /** The spans as an OTLP/JSON `ExportTraceServiceRequest`, or why not. */
  readonly spans: string | { readonly error: string };
  readonly summary: RunSummary;
}

/** `2026-12-04T05:30:12.345Z stdout text`: one line of a node's log file. */
function formatLogLine(line: { time: number; stream: string; text: string; split?: boolean }): string {
  return `${new Date(line.time).toISOString()} ${line.stream} ${line.text}${line.split === true ? ' [line split]' : ''}\n`;
}

/**
 * Writes a forensic bundle into `dir` (created, with parents; files of the same name are
 * replaced): `nodes/<node>[-<replica>].log`, `events.ndjson`, `readiness.json`,
 * `spans.otlp.json`, `ps.json` + `ps.txt`, `summary.json` (docs/cli.md describes each).
 * @throws the fs error (ENOSPC, EACCES …) of the first write that failed.
 */
export function writeBundle(dir: string, contents: BundleContents): void {
  const nodesDir = path.join(dir, 'nodes');
  mkdirSync(nodesDir, { recursive: true });
  const members = contents.cluster.nodes();
  const replicated = new Set(members.filter((m) => m.replica > 0).map((m) => m.name));
  for (const member of members) {
    const lines = member.output.tail();
    const dropped = member.output.droppedLines;
    const header = dropped > 0 ? `# ${getReplicaLabel(member.name, member.replica)}: ${dropped} earlier lines were dropped by the output ring buffer (output.maxLines / output.maxBytes)\n` : '';
    const file = replicated.has(member.name) ? `${member.name}-${member.replica}.log` : `${member.name}.log`;
    writeFileSync(path.join(nodesDir, file), header + lines.map(formatLogLine).join(''));
  }
  writeFileSync(path.join(dir, 'events.ndjson'), contents.recorder.getEvents().map((e) => `${JSON.stringify(e)}\n`).join(''));
  writeFileSync(path.join(dir, 'readiness.json'), `${JSON.stringify({ nodes: contents.recorder.getReadiness() }, null, 2)}\n`);
  const spans = typeof contents.spans === 'string' ? contents.spans : JSON.stringify(contents.spans);
  writeFileSync(path.join(dir, 'spans.otlp.json'), `${spans}\n`);
  const ps = contents.ps;
  if (ps === null || 'error' in ps) {
    const why = ps === null ? 'not captured' : ps.error;
    writeFileSync(path.join(dir, 'ps.json'), `${JSON.stringify({ error: why })}\n`);
    writeFileSync(path.join(dir, 'ps.txt'), `(ps could not be captured: ${why})\n`);
  } else {
    writeFileSync(path.join(dir, 'ps.json'), `${JSON.stringify(ps.answer.nodes, null, 2)}\n`);
    writeFileSync(path.join(dir, 'ps.txt'), ps.table);
  }
  writeFileSync(path.join(dir, 'summary.json'), `${JSON.stringify(contents.summary, null, 2)}\n`);
}
