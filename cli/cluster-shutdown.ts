import { getReplicaLabel, isAtRest } from '../contract/lifecycle.js';
import { formatSeconds } from './printer.js';
import type { ClusterController, ClusterSpec, NodeSnapshot, StopProgressEvent, Subscription } from '../contract/types.js';

/** A node that has not finished stopping, and why. */
export interface PendingStop {
  readonly name: string;
  readonly replica: number;
  readonly pid: number | null;
  /** One phrase: what the node is doing, e.g. `SIGTERM sent 1.2 s ago, SIGKILL in 3.8 s`. */
  readonly reason: string;
}



/**
 * The way down of a `drover up` cluster: one graceful stop shared by Ctrl-C, SIGTERM and
 * `drover down` (idempotent), an optional deadline after which the nodes still running are
 * SIGKILLed, an immediate SIGKILL of all (second Ctrl-C), and a description of what is still
 * stopping for progress lines.
 */
export class ClusterShutdown {
  private stopping: Promise<void> | null = null;
  private beganAt = 0;
  private deadline: NodeJS.Timeout | null = null;
  /** Set once SIGKILL went to every node. */
  private forcedBy: string | null = null;
  private resolveFinished!: () => void;
  private subscription: Subscription | null = null;
  private readonly progress = new Map<string, StopProgressEvent>();
  /** Resolves once a stop (begun by anyone) has finished; never starts one. */
  readonly finished = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(
    private readonly controller: ClusterController,
    private readonly spec: ClusterSpec,
    private readonly clock: () => number = Date.now,
  ) {}

  get isStopping(): boolean {
    return this.stopping !== null;
  }

  get isForced(): boolean {
    return this.forcedBy !== null;
  }

  /**
   * Begins the graceful stop (once); resolves when every node stopped. With `timeoutMs`, nodes
   * still running after that long get SIGKILL (a later call can shorten but never lengthen it).
   */
  stop(timeoutMs: number | null = null): Promise<void> {
    if (this.stopping === null) {
      this.beganAt = this.clock();
      this.watchProgress();
      this.stopping = this.controller.stop().finally(() => {
        if (this.deadline !== null) clearTimeout(this.deadline);
        this.subscription?.unsubscribe();
        this.resolveFinished();
      });
    }
    if (timeoutMs !== null && this.forcedBy === null) {
      const elapsedMs = this.clock() - this.beganAt;
      if (this.deadline !== null) clearTimeout(this.deadline);
      this.deadline = setTimeout(() => void this.killAll(`the down timeout of ${formatSeconds(timeoutMs)} ran out`), Math.max(0, timeoutMs - elapsedMs));
    }
    return this.stopping;
  }

  /** SIGKILL to every node's process group now, and stop. Resolves when every node stopped. */
  async killAll(why: string): Promise<void> {
    this.forcedBy ??= why;
    const stopped = this.stop();
    const names = [...new Set(this.controller.snapshot().nodes.filter((n) => !isAtRest(n.state)).map((n) => n.name))];
    await Promise.all(
      names.map((name) =>
        this.controller.killNode(name, 'SIGKILL').catch(() => {
          // The node ended between the snapshot and the kill: nothing left to signal.
          return 0;
        }),
      ),
    );
    await stopped;
  }

  /** Keeps the manager's latest `stopping` progress event per replica (what it sent, how long ago). */
  private watchProgress(): void {
    this.subscription = this.controller.subscribe({
      wantsOutput: false,
      onEvent: (event) => {
        if (event.type === 'stopping') this.progress.set(`${event.node}:${event.replica}`, event);
        else if (event.type === 'state' && isAtRest(event.to)) this.progress.delete(`${event.node}:${event.replica}`);
      },
    });
  }

  /** Nodes not stopped yet and what each is waiting for. */
  getPending(): PendingStop[] {
    const now = this.clock();
    const pending = this.controller.snapshot().nodes.filter((n) => !isAtRest(n.state));
    return pending.map((n) => ({ name: n.name, replica: n.replica, pid: n.pid, reason: this.describe(n, now, pending) }));
  }

  private describe(node: NodeSnapshot, now: number, pending: readonly NodeSnapshot[]): string {
    const spec = this.spec.nodes.find((s) => s.name === node.name);
    if (this.forcedBy !== null) return `SIGKILL sent (${this.forcedBy}); waiting for the process to be reaped`;
    if (node.state === 'stopping' && spec) {
      // The manager's progress event when there is one (it knows when the signal went out), else the state's age.
      const event = this.progress.get(`${node.name}:${node.replica}`);
      const signal = event?.signal ?? spec.stop.signal;
      const timeoutMs = event?.timeoutMs ?? spec.stop.timeoutMs;
      const sinceMs = event ? event.waitedMs + (now - event.time) : now - node.stateSince;
      const leftMs = timeoutMs - sinceMs;
      return leftMs > 0
        ? `${signal} sent ${formatSeconds(sinceMs)} ago, still running; SIGKILL in ${formatSeconds(leftMs)}`
        : `${signal} sent ${formatSeconds(sinceMs)} ago; SIGKILL sent after the stop timeout of ${formatSeconds(timeoutMs)}`;
    }
    if (node.state === 'backoff') return 'cancelling its pending restart';
    // Stop goes in reverse dependency order: a node waits for the nodes that depend on it.
    const dependents = this.spec.nodes.filter((s) => node.name in (s.dependsOn ?? {}) && pending.some((p) => p.name === s.name)).map((s) => s.name);
    if (dependents.length > 0) return `${node.state}; waits for ${dependents.join(', ')} (which depend on it) to stop first`;
    return `${node.state}; stop signal not sent yet`;
  }
}

/** `a (SIGTERM sent …), b (…)` for a progress line. */
export function formatPending(pending: readonly PendingStop[]): string {
  return pending.map((p) => `${getReplicaLabel(p.name, p.replica)}${p.pid === null ? '' : ` pid ${p.pid}`}: ${p.reason}`).join('; ');
}
