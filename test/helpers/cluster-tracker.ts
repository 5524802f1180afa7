import type { Cluster } from '../../cluster/cluster.js';
import { expectAllGone, expectNoShepherds } from './processes.js';

/**
 * Clusters a test file started, and the afterEach that proves they left nothing behind: every
 * cluster stopped, every pid any of their nodes ever had gone (not zombies), no shepherd left.
 */
export interface ClusterTracker {
  /**
   * Remembers `cluster` for {@link cleanup}, and every pid its nodes get from now on through an
   * 'event' listener (`listen: false` leaves the cluster without listeners: the test adds its pids).
   */
  track(cluster: Cluster, options?: { listen?: boolean }): Cluster;
  /** Pids seen so far; a test may add pids it learned otherwise (grandchildren, daemons). */
  readonly pids: Set<number>;
  cleanup(): Promise<void>;
}

export function createClusterTracker(): ClusterTracker {
  const clusters: Cluster[] = [];
  const pids = new Set<number>();
  return {
    pids,
    track(cluster, { listen = true } = {}) {
      clusters.push(cluster);
      for (const node of cluster.nodes()) if (node.pid !== null) pids.add(node.pid);
      if (listen) cluster.on('event', (e) => {
        if (e.type === 'state' && e.pid !== null) pids.add(e.pid);
      });
      return cluster;
    },
    async cleanup() {
      await Promise.all(clusters.map((c) => c.stop()));
      clusters.length = 0;
      if (pids.size > 0) await expectAllGone(pids);
      pids.clear();
      await expectNoShepherds();
    },
  };
}
