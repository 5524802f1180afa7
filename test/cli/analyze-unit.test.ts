/** The startup analysis as pure logic: conditions (started, a job's ready, completed), replicas, the chain and its text. */
import { describe, expect, it } from 'vitest';
import { analyzeStartup, formatAnalysis, formatMs } from '../../cli/analyze.js';
import type { ReplicaTimeline, StartupAnswer } from '../../cli/startup-timeline.js';

const T = 1_700_000_000_000;
const replica = (r: number, t: Partial<Omit<ReplicaTimeline, 'replica'>>): ReplicaTimeline => ({ replica: r, spawnedAt: null, runningAt: null, readyAt: null, exitedAt: null, failedAt: null, ...t });

describe('analyzeStartup', () => {
  const answer: StartupAnswer = {
    name: 'shop',
    nodes: [
      { name: 'db', dependsOn: {}, job: false, replicas: [replica(0, { spawnedAt: T, runningAt: T + 5, readyAt: T + 800 })] },
      { name: 'migrate', dependsOn: { db: 'ready' }, job: true, replicas: [replica(0, { spawnedAt: T + 801, runningAt: T + 805, exitedAt: T + 1500 })] },
      { name: 'cache', dependsOn: {}, job: false, replicas: [replica(0, { spawnedAt: T + 1, runningAt: T + 3, readyAt: T + 100 })] },
      {
        name: 'api',
        dependsOn: { cache: 'started', migrate: 'ready' },
        job: false,
        replicas: [replica(0, { spawnedAt: T + 1502, runningAt: T + 1510, readyAt: T + 1700 }), replica(1, { spawnedAt: T + 1503, runningAt: T + 1511, readyAt: T + 2000 })],
      },
    ],
  };

  it('follows the dependency met last from the node ready last; a job is ready when it exited; replicas: first spawn, last ready', () => {
    const analysis = analyzeStartup(answer);
    expect(analysis).toMatchObject({ cluster: 'shop', startedAt: T, totalMs: 2000, chain: ['api', 'migrate', 'db'] });
    expect(analysis.nodes).toEqual([
      { name: 'db', startedMs: 0, readyMs: 800, startupMs: 800, waitedOn: null, condition: null, waitedMs: 0, failed: false },
      { name: 'migrate', startedMs: 801, readyMs: 1500, startupMs: 699, waitedOn: 'db', condition: 'ready', waitedMs: 801, failed: false },
      { name: 'cache', startedMs: 1, readyMs: 100, startupMs: 99, waitedOn: null, condition: null, waitedMs: 0, failed: false },
      { name: 'api', startedMs: 1502, readyMs: 2000, startupMs: 498, waitedOn: 'migrate', condition: 'ready', waitedMs: 1502, failed: false },
    ]);
    expect(formatAnalysis(analysis)).toBe(
      [
        'cluster shop: ready in 2.000s (first spawn → last node ready)',
        '',
        'NODE     SPAWNED  READY    STARTUP  WAITED ON        WAITED',
        'db       @0ms     @800ms   +800ms   -                -',
        'migrate  @801ms   @1.500s  +699ms   db (ready)       801ms',
        'cache    @1ms     @100ms   +99ms    -                -',
        'api      @1.502s  @2.000s  +498ms   migrate (ready)  1.502s',
        '',
        'The time a node was spawned is printed after "@", the time it took to become ready after "+".',
        '',
        'api @1.502s +498ms',
        '└─migrate @801ms +699ms',
        '  └─db @0ms +800ms',
        '',
      ].join('\n'),
    );
  });

  it('a node not ready yet: no total, and the chain ends at the node ready last so far; a failed node is marked', () => {
    const analysis = analyzeStartup({
      name: 'x',
      nodes: [
        { name: 'a', dependsOn: {}, job: false, replicas: [replica(0, { spawnedAt: T, readyAt: T + 10 })] },
        { name: 'b', dependsOn: { a: 'ready' }, job: false, replicas: [replica(0, { spawnedAt: T + 11, exitedAt: T + 20, failedAt: T + 30 })] },
      ],
    });
    expect(analysis.totalMs).toBeNull();
    expect(analysis.chain).toEqual(['a']);
    expect(analysis.nodes[1]).toMatchObject({ readyMs: null, failed: true, waitedOn: 'a' });
    expect(formatAnalysis(analysis)).toContain('cluster x: not every node is ready yet; failed: b\n');
    expect(formatAnalysis(analysis)).toMatch(/^b +@11ms +failed +- +a \(ready\) +11ms$/m);
  });

  it('nodes never spawned (a subset start, a failed dependency) do not hold the total back', () => {
    const analysis = analyzeStartup({
      name: 'x',
      nodes: [
        { name: 'a', dependsOn: {}, job: false, replicas: [replica(0, { spawnedAt: T, readyAt: T + 10 })] },
        { name: 'b', dependsOn: {}, job: false, replicas: [] },
        { name: 'c', dependsOn: { d: 'ready' }, job: false, replicas: [replica(0, { failedAt: T + 5 })] },
      ],
    });
    expect(analysis.totalMs).toBe(10);
    expect(analysis.nodes.map((n) => [n.name, n.startedMs, n.readyMs, n.failed])).toEqual([
      ['a', 0, 10, false],
      ['b', null, null, false],
      ['c', null, null, true],
    ]);
    expect(formatAnalysis(analysis)).toMatch(/^cluster x: ready in 10ms \(first spawn → last node ready\); failed: c$/m);
  });

  it('formats durations as systemd-analyze does', () => {
    expect([formatMs(0), formatMs(999.4), formatMs(1000), formatMs(61_234), formatMs(null)]).toEqual(['0ms', '999ms', '1.000s', '61.234s', '-']);
  });
});
