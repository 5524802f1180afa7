/**
 * `drover analyze`: the startup critical chain of the running cluster, like
 * `systemd-analyze critical-chain`: for each node when its first run was spawned and became ready,
 * which dependency held its start back and for how long, and the chain of nodes that decided how
 * long the whole start took. Data: the manager's startup timeline (`GET /v1/startup`: the state
 * events the lifecycle spans are made from).
 */
import type { DependencyCondition } from '../contract/types.js';
import { requestJson } from './control-client.js';
import { EXIT_OK } from './exit-codes.js';
import { getStatePaths } from './state-dir.js';
import type { ReplicaTimeline, StartupAnswer, StartupNode } from './startup-timeline.js';

/** One node of the analysis; times in ms from the cluster's first spawn (`null`: not reached). */
export interface AnalyzedNode {
  readonly name: string;
  /** Its first replica was spawned. */
  readonly startedMs: number | null;
  /** Every replica became ready (a job: exited). */
  readonly readyMs: number | null;
  /** `readyMs - startedMs`: how long it took to start. */
  readonly startupMs: number | null;
  /** The dependency whose condition was met last: the one its start waited for (null: none). */
  readonly waitedOn: string | null;
  readonly condition: DependencyCondition | null;
  /** From the cluster's first spawn until this node's spawn: the time spent waiting for dependencies (0 without any). */
  readonly waitedMs: number | null;
  /** A replica went `failed` (a dependency not met, its restart limit reached …). */
  readonly failed: boolean;
}

/** `drover analyze --json`. */
export interface StartupAnalysis {
  readonly cluster: string;
  /** Epoch ms of the first spawn (time 0 of every other figure), or null before any. */
  readonly startedAt: number | null;
  /** From the first spawn until the last node was ready, ms; null while a spawned node is not ready (or it failed). Nodes never spawned do not count. */
  readonly totalMs: number | null;
  /** In declaration order. */
  readonly nodes: readonly AnalyzedNode[];
  /** The critical chain: the node ready last first, then the dependency it waited on, and so on. */
  readonly chain: readonly string[];
}

const max = (values: readonly (number | null)[]): number | null => (values.length === 0 || values.some((v) => v === null) ? null : Math.max(...(values as number[])));

/** When a replica satisfied `condition` (as the cluster's dependency wait checks it). */
function conditionMetAt(replica: ReplicaTimeline, condition: DependencyCondition, job: boolean): number | null {
  switch (condition) {
    case 'started':
      return replica.runningAt ?? replica.readyAt ?? replica.exitedAt;
    case 'ready':
      return job ? replica.exitedAt : replica.readyAt;
    case 'completed':
    case 'completed-successfully':
      return replica.exitedAt;
  }
}

/** The critical chain and per-node figures of a startup timeline. Pure. */
export function analyzeStartup(answer: StartupAnswer): StartupAnalysis {
  const spawns = answer.nodes.flatMap((n) => n.replicas.map((r) => r.spawnedAt)).filter((t): t is number => t !== null);
  const t0 = spawns.length === 0 ? null : Math.min(...spawns);
  const byName = new Map(answer.nodes.map((n) => [n.name, n]));
  const rel = (t: number | null): number | null => (t === null || t0 === null ? null : t - t0);
  const metAt = (node: StartupNode | undefined, condition: DependencyCondition): number | null =>
    node === undefined ? null : max(node.replicas.map((r) => conditionMetAt(r, condition, node.job)));
  const nodes: AnalyzedNode[] = answer.nodes.map((node) => {
    const started = node.replicas.map((r) => r.spawnedAt).filter((t): t is number => t !== null);
    const startedMs = rel(started.length === 0 ? null : Math.min(...started));
    const readyMs = rel(node.replicas.length === 0 ? null : metAt(node, 'ready'));
    let waitedOn: string | null = null;
    let condition: DependencyCondition | null = null;
    let latest = -Infinity;
    for (const [dep, cond] of Object.entries(node.dependsOn)) {
      const met = metAt(byName.get(dep), cond);
      if (met !== null && met > latest) [waitedOn, condition, latest] = [dep, cond, met];
    }
    return {
      name: node.name,
      startedMs,
      readyMs,
      startupMs: startedMs === null || readyMs === null ? null : readyMs - startedMs,
      waitedOn,
      condition,
      waitedMs: Object.keys(node.dependsOn).length === 0 ? (startedMs === null ? null : 0) : startedMs,
      failed: node.replicas.some((r) => r.failedAt !== null),
    };
  });
  // Nodes never spawned (not part of a subset start, or a dependency failed) do not count.
  const spawned = nodes.filter((n) => n.startedMs !== null);
  const totalMs = spawned.length === 0 ? null : max(spawned.map((n) => n.readyMs));
  // The chain starts at the node ready last (declaration order breaks ties) and follows waitedOn.
  const chain: string[] = [];
  const analyzed = new Map(nodes.map((n) => [n.name, n]));
  let last: AnalyzedNode | undefined;
  for (const node of nodes) if (node.readyMs !== null && (last === undefined || node.readyMs > last.readyMs!)) last = node;
  for (let at = last; at !== undefined && !chain.includes(at.name); at = at.waitedOn === null ? undefined : analyzed.get(at.waitedOn)) chain.push(at.name);
  return { cluster: answer.name, startedAt: t0, totalMs, nodes, chain };
}

/** `812ms`, `1.523s`: ms under a second, else seconds with ms, as systemd-analyze prints them. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(3)}s`;
}

/** The table of every node and the critical chain as a tree (`@` spawned, `+` time to ready). */
export function formatAnalysis(analysis: StartupAnalysis): string {
  const lines: string[] = [];
  const total = analysis.totalMs === null ? 'not every node is ready yet' : `ready in ${formatMs(analysis.totalMs)} (first spawn → last node ready)`;
  const failed = analysis.nodes.filter((n) => n.failed).map((n) => n.name);
  lines.push(`cluster ${analysis.cluster}: ${total}${failed.length === 0 ? '' : `; failed: ${failed.join(', ')}`}`, '');
  const rows = [['NODE', 'SPAWNED', 'READY', 'STARTUP', 'WAITED ON', 'WAITED']];
  for (const n of analysis.nodes) {
    rows.push([
      n.name,
      n.startedMs === null ? '-' : `@${formatMs(n.startedMs)}`,
      n.readyMs === null ? (n.failed ? 'failed' : '-') : `@${formatMs(n.readyMs)}`,
      n.startupMs === null ? '-' : `+${formatMs(n.startupMs)}`,
      n.waitedOn === null ? '-' : `${n.waitedOn} (${n.condition})`,
      n.waitedOn === null ? '-' : formatMs(n.waitedMs),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) lines.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  if (analysis.chain.length > 0) {
    lines.push('', 'The time a node was spawned is printed after "@", the time it took to become ready after "+".', '');
    const analyzed = new Map(analysis.nodes.map((n) => [n.name, n]));
    analysis.chain.forEach((name, depth) => {
      const n = analyzed.get(name)!;
      const prefix = depth === 0 ? '' : `${'  '.repeat(depth - 1)}└─`;
      lines.push(`${prefix}${name} @${formatMs(n.startedMs)} +${formatMs(n.startupMs)}`);
    });
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `drover analyze`: asks the running cluster of `file` for its startup timeline and prints the
 * analysis (or, with `json`, the {@link StartupAnalysis}).
 * @throws {DroverError} ERR_CONTROL_API when no cluster runs for `file`.
 */
export async function runAnalyze(options: { file: string; json: boolean }): Promise<number> {
  const answer = await requestJson<StartupAnswer>(getStatePaths(options.file), options.file, 'GET', '/v1/startup');
  const analysis = analyzeStartup(answer);
  process.stdout.write(options.json ? `${JSON.stringify(analysis, null, 2)}\n` : formatAnalysis(analysis));
  return EXIT_OK;
}
