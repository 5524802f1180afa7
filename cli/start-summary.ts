import { getReplicaLabel } from '../contract/lifecycle.js';
import type { ClusterSpec } from '../contract/types.js';

/** Jobs of a cluster (nodes whose readiness is their exit) and the exit codes that complete them. */
export type JobCodes = ReadonlyMap<string, readonly number[]>;

/** The jobs of `spec`: node name → exit codes that count as completed. */
export function getJobCodes(spec: Pick<ClusterSpec, 'nodes'>): JobCodes {
  return new Map(spec.nodes.flatMap((n) => (n.ready?.kind === 'exit' ? [[n.name, n.ready.codes] as const] : [])));
}

/** One replica as the summary needs it (a `ps` row, or a snapshot's node). */
export interface SummaryRow {
  readonly name: string;
  readonly replica: number | null;
  readonly state: string;
  readonly exitCode: number | null;
  readonly error: string | null;
}

/** What a cluster's start came to. Jobs count apart: a completed job is done, not `ready`. */
export interface StartSummary {
  /** Replicas of services (not jobs) that are `ready` (milestone `started`: `running` or `ready`). */
  readonly ready: number;
  /** Replicas of services. */
  readonly services: number;
  /** Replicas of jobs that exited with one of their codes (milestone `started`: or still `running`). */
  readonly completed: number;
  /** Replicas of jobs. */
  readonly jobs: number;
  /** Replicas neither ready nor completed, in row order: how far they got and why. */
  readonly failed: readonly (SummaryRow & { readonly label: string })[];
  /** What `ready` counts: replicas `ready`, or (`started`) `running` or `ready`. */
  readonly milestone: StartMilestone;
}

/**
 * How far a start must get to count: `ready` (`up`, `up --wait`, `run`) or only `started` (`up
 * -d`, as `docker compose up -d` returns once its containers started).
 */
export type StartMilestone = 'ready' | 'started';

/**
 * Counts only what truly is up: a service replica that is `ready` (a node without a readiness
 * check is `running`, not ready, until it stayed up `minUptime`), a job replica that `exited`
 * with one of its success codes. With `milestone` `started`, a service replica that is `running`
 * counts too (its `ready` field then counts started replicas), and a job replica still `running`.
 * Rows with replica `null` (a node scaled to 0) are left out.
 */
export function summarizeStart(rows: readonly SummaryRow[], jobs: JobCodes, milestone: StartMilestone = 'ready'): StartSummary {
  let ready = 0;
  let services = 0;
  let completed = 0;
  let jobCount = 0;
  const failed: (SummaryRow & { label: string })[] = [];
  for (const row of rows) {
    // A node never started (left out of `up NODE…`) is not part of this start.
    if (row.replica === null || row.state === 'pending') continue;
    const codes = jobs.get(row.name);
    const isRunning = milestone === 'started' && row.state === 'running';
    const ok = codes === undefined ? row.state === 'ready' || isRunning : (row.state === 'exited' && row.exitCode !== null && codes.includes(row.exitCode)) || isRunning;
    if (codes === undefined) services++;
    else jobCount++;
    if (ok && codes === undefined) ready++;
    else if (ok) completed++;
    else failed.push({ ...row, label: getReplicaLabel(row.name, row.replica) });
  }
  return { ready, services, completed, jobs: jobCount, failed, milestone };
}

/** `2/3 nodes ready` (services), plus `, 1/1 job completed` when the cluster has jobs. */
export function formatStartSummary(summary: StartSummary): string {
  const jobs = summary.jobs === 0 ? '' : `, ${summary.completed}/${summary.jobs} job${summary.jobs === 1 ? '' : 's'} ${summary.milestone === 'started' ? 'started or completed' : 'completed'}`;
  return `${summary.ready}/${summary.services} nodes ${summary.milestone}${jobs}`;
}
