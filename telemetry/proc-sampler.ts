/**
 * Samples every node's process tree (or, when the node has one, its cgroup v2 leaf's members)
 * from `/proc` on its own interval and keeps the latest sample
 * per node in memory, so the metric callback only reads a Map (no I/O inside the callback).
 * The reads are synchronous but sliced: after `sliceMs` of work the sampler yields to the event
 * loop (`setImmediate`), so 1000 nodes never stall supervision for more than a slice.
 */

import { performance } from 'node:perf_hooks';
import type { ClusterController } from '../contract/types.js';
import { getNodeKey } from './node-attributes.js';
import { readProcTree } from './proc-tree.js';
import type { ProcReadRound, ProcTreeSample } from './proc-tree.js';

/** Options of {@link ProcSampler}. */
export interface ProcSamplerOptions {
  /** Node pids come from `controller.snapshot()`. */
  readonly controller: ClusterController;
  /**
   * Where procfs is mounted.
   * @default '/proc'
   */
  readonly procRoot?: string;
  /**
   * Time between samples, in ms. Match it to the metric collection (export or scrape) interval.
   * @default 15000
   */
  readonly intervalMs?: number;
  /**
   * Longest stretch of synchronous `/proc` reading before yielding to the event loop, in ms.
   * @default 2
   */
  readonly sliceMs?: number;
  /** Called after each complete sampling round with its wall-clock duration in seconds. */
  readonly onSampled?: (durationSeconds: number, nodeCount: number) => void;
}

/** Default time between samples: Prometheus' customary 15 s scrape interval. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 15_000;
const DEFAULT_SLICE_MS = 2;

/** Latest `/proc` sample of each node's process tree, refreshed on an interval. */
export class ProcSampler {
  private readonly controller: ClusterController;
  private readonly procRoot: string;
  private readonly intervalMs: number;
  private readonly sliceMs: number;
  private readonly onSampled: ((durationSeconds: number, nodeCount: number) => void) | undefined;
  private readonly samples = new Map<string, ProcTreeSample>();
  private timer: NodeJS.Timeout | null = null;
  /** The latest round, started or queued; rounds never overlap. */
  private lastRound: Promise<void> = Promise.resolve();
  /** A round queued behind the running one and not started yet; later requests join it. */
  private queuedRound: Promise<void> | null = null;

  constructor(options: ProcSamplerOptions) {
    this.controller = options.controller;
    this.procRoot = options.procRoot ?? '/proc';
    this.intervalMs = options.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
    this.onSampled = options.onSampled;
  }

  /** Starts sampling: one round now, then every `intervalMs` (the timer does not hold the process open). */
  start(): void {
    if (this.timer !== null) {
      return;
    }
    this.timer = setInterval(() => void this.sampleNow(), this.intervalMs);
    this.timer.unref();
    void this.sampleNow();
  }

  /** Stops the timer and forgets every sample. */
  stop(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.samples.clear();
  }

  /** The latest sample of node `name`/`replica`, or undefined. Pure lookup, no I/O. */
  get(name: string, replica: number): ProcTreeSample | undefined {
    return this.samples.get(getNodeKey(name, replica));
  }

  /** Forgets the sample of one node (its run ended). */
  delete(name: string, replica: number): void {
    this.samples.delete(getNodeKey(name, replica));
  }

  /**
   * Samples every node with a pid; resolves when a round that began after this call is complete
   * (rounds never overlap: requests during a round share one follow-up round). Never rejects.
   */
  sampleNow(): Promise<void> {
    if (this.queuedRound !== null) {
      return this.queuedRound;
    }
    const round = this.lastRound.then(() => {
      this.queuedRound = null;
      return this.sampleRound();
    });
    this.queuedRound = round;
    this.lastRound = round;
    return round;
  }

  private async sampleRound(): Promise<void> {
    let nodes;
    try {
      nodes = this.controller.snapshot().nodes;
    } catch {
      // A controller that cannot answer has nothing to sample this round; the metric callback
      // reports the same way (process-metrics.ts).
      return;
    }
    const startMs = performance.now();
    let sliceStartMs = startMs;
    const round: ProcReadRound = { childrenByParent: null };
    const present = new Set<string>();
    for (const node of nodes) {
      const key = getNodeKey(node.name, node.replica);
      present.add(key);
      if (node.pid === null) {
        continue;
      }
      const sample = readProcTree(node.pid, { procRoot: this.procRoot, round, cgroup: node.cgroup ?? null });
      if (sample !== null) {
        this.samples.set(key, sample);
      }
      if (performance.now() - sliceStartMs >= this.sliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStartMs = performance.now();
        // The fallback's parent map goes stale across a yield.
        round.childrenByParent = null;
      }
    }
    for (const key of this.samples.keys()) {
      if (!present.has(key)) {
        this.samples.delete(key);
      }
    }
    try {
      this.onSampled?.((performance.now() - startMs) / 1000, nodes.length);
    } catch {
      // Recording our own cost must never break sampling; nothing else to do with the error.
    }
  }
}
