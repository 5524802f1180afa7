/**
 * The cluster's startup timeline, kept by the manager for `drover analyze` (`GET /v1/startup`):
 * for each replica, when its first run was spawned, became `running` and `ready` (or exited or
 * failed). These are the state events the lifecycle spans (`start` spans) are made from; the
 * manager keeps them itself, so `analyze` works whether or not telemetry exports anything.
 * One small record per replica: bounded by the config.
 */
import type { ClusterController, ClusterEvent, DependencyCondition, NodeState, Subscription } from '../contract/types.js';

/** Epoch ms of the first time a replica reached each state; null: not (yet) reached. */
export interface ReplicaTimeline {
  readonly replica: number;
  /** The first run was spawned (`starting`). */
  readonly spawnedAt: number | null;
  readonly runningAt: number | null;
  readonly readyAt: number | null;
  /** The first run exited (a job completing, or a crash before ready). */
  readonly exitedAt: number | null;
  /** `failed`, e.g. a dependency was not met or the restart limit was reached. */
  readonly failedAt: number | null;
}

/** One node of {@link StartupAnswer}. */
export interface StartupNode {
  readonly name: string;
  readonly dependsOn: Readonly<Record<string, DependencyCondition>>;
  /** A job (`ready: { exit }`): it is ready once it exited successfully. */
  readonly job: boolean;
  /** Replicas that have a run so far, by index. */
  readonly replicas: readonly ReplicaTimeline[];
}

/** Answer of `GET /v1/startup`: every node in declaration order, with its replicas' timelines. */
export interface StartupAnswer {
  readonly name: string;
  readonly nodes: readonly StartupNode[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const RECORDED: Partial<Record<NodeState, keyof Omit<ReplicaTimeline, 'replica'>>> = {
  starting: 'spawnedAt',
  running: 'runningAt',
  ready: 'readyAt',
  exited: 'exitedAt',
  failed: 'failedAt',
};

/** Records the first time each replica reaches each state, from the moment it is created. */
export class StartupRecorder {
  private readonly timelines = new Map<string, Mutable<ReplicaTimeline>>();
  private readonly subscription: Subscription;

  constructor(private readonly controller: ClusterController) {
    this.subscription = controller.subscribe({
      wantsOutput: false,
      onSnapshot: (snapshot) => {
        // Runs already under way when recording began (not the case for `up` and `run`, which
        // create the control server before starting the cluster): their spawn time is known.
        for (const node of snapshot.nodes) {
          const timeline = this.get(node.name, node.replica);
          if (node.startedAt !== null) timeline.spawnedAt = node.startedAt;
          const key = RECORDED[node.state];
          if (key !== undefined && key !== 'spawnedAt') timeline[key] = node.stateSince;
        }
      },
      onEvent: (event: ClusterEvent) => {
        if (event.type !== 'state') return;
        const key = RECORDED[event.to];
        if (key === undefined) return;
        const timeline = this.get(event.node, event.replica);
        timeline[key] ??= event.time;
      },
    });
  }

  private get(node: string, replica: number): Mutable<ReplicaTimeline> {
    const id = `${node}\0${replica}`;
    let timeline = this.timelines.get(id);
    if (timeline === undefined) {
      timeline = { replica, spawnedAt: null, runningAt: null, readyAt: null, exitedAt: null, failedAt: null };
      this.timelines.set(id, timeline);
    }
    return timeline;
  }

  /** The timelines so far, nodes in declaration order (from the resolved config). */
  answer(): StartupAnswer {
    const config = this.controller.resolvedConfig();
    const nodes = new Map<string, { name: string; dependsOn: Readonly<Record<string, DependencyCondition>>; job: boolean; replicas: ReplicaTimeline[] }>();
    for (const replica of config.nodes) {
      if (!nodes.has(replica.name)) nodes.set(replica.name, { name: replica.name, dependsOn: replica.dependsOn, job: replica.ready?.kind === 'exit', replicas: [] });
      const timeline = this.timelines.get(`${replica.name}\0${replica.replica}`);
      if (timeline !== undefined) nodes.get(replica.name)!.replicas.push({ ...timeline });
    }
    return { name: config.name, nodes: [...nodes.values()] };
  }

  /** Stops recording. */
  close(): void {
    this.subscription.unsubscribe();
  }
}
