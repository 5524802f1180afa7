import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster } from '../../cluster/cluster.js';
import { NodeFileWatch } from '../../cluster/file-watch.js';
import { loadConfig } from '../../config/loader.js';
import type { ClusterEvent } from '../../contract/types.js';
import { createClusterTracker } from '../helpers/cluster-tracker.js';
import { fixture } from '../helpers/fixtures.js';
import { isAlive } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait-for.js';
import { startCluster } from '../../start-cluster.js';
import { ATTR_RESTART_REASON, METRIC_PROCESS_RESTARTS, SPAN_NAME_RESTART } from '../../telemetry/semconv.js';
import { getDataPoints } from '../telemetry/telemetry-assertions.js';

const { track, cleanup } = createClusterTracker();
const dirs: string[] = [];

afterEach(async () => {
  await cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function makeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-watch-'));
  dirs.push(dir);
  return dir;
}

const forever = JSON.stringify(fixture('forever'));

describe('watch', () => {
  it('restarts exactly the watched node and its dependents once each, reason watch; ignored dirs do nothing', async () => {
    const dir = makeDir();
    mkdirSync(join(dir, 'api-src', 'node_modules', 'pkg'), { recursive: true });
    mkdirSync(join(dir, 'other-src'));
    writeFileSync(join(dir, 'api-src', 'app.js'), '1');
    writeFileSync(join(dir, 'other-src', 'x.js'), '1');
    writeFileSync(
      join(dir, 'drover.yaml'),
      `name: watch
nodes:
  db: { command: ${forever}, ready: { log: '^ready$' } }
  api:
    command: ${forever}
    ready: { log: '^ready$' }
    dependsOn: [db]
    watch: { paths: api-src, debounce: 100ms, restartDependents: true }
  worker: { command: ${forever}, ready: { log: '^ready$' }, dependsOn: [api] }
  other:
    command: ${forever}
    ready: { log: '^ready$' }
    watch: { paths: [other-src], debounce: 100ms }
`,
    );
    const { spec } = await loadConfig(join(dir, 'drover.yaml'));
    const cluster = track(new Cluster(spec));
    const restarts: Extract<ClusterEvent, { type: 'restarting' }>[] = [];
    cluster.on('event', (event) => {
      if (event.type === 'restarting') restarts.push(event);
    });
    await cluster.start();
    const count = () => Object.fromEntries(['db', 'api', 'worker', 'other'].map((n) => [n, restarts.filter((r) => r.node === n).length]));
    const allReady = () => cluster.snapshot().nodes.every((n) => n.state === 'ready');

    // A change under node_modules (ignored by default), then a change of `other`'s files: once
    // other has restarted, the earlier ignored change has been seen and must have done nothing.
    writeFileSync(join(dir, 'api-src', 'node_modules', 'pkg', 'index.js'), 'changed');
    writeFileSync(join(dir, 'other-src', 'x.js'), '2');
    await waitFor(() => ({ restarts: count(), ready: allReady() }), (s) => s.restarts.other === 1 && s.ready, { describe: 'other restarted by its watch' });
    expect(count()).toEqual({ db: 0, api: 0, worker: 0, other: 1 });

    // Two writes inside one debounce window: one restart of api, then of its dependent worker.
    writeFileSync(join(dir, 'api-src', 'app.js'), '2');
    writeFileSync(join(dir, 'api-src', 'app.js'), '3');
    await waitFor(() => ({ restarts: count(), ready: allReady() }), (s) => s.restarts.worker === 1 && s.ready, { describe: 'api and worker restarted' });
    expect(count()).toEqual({ db: 0, api: 1, worker: 1, other: 1 });
    expect(restarts.every((r) => r.reason === 'watch' && r.delayMs === 0)).toBe(true);
    // Dependency order: api's restart begins before worker's.
    expect(restarts.filter((r) => r.node !== 'other').map((r) => r.node)).toEqual(['api', 'worker']);
  });

  it('shows the watch restart as reason watch in the restart metric and the restart span', async () => {
    const dir = makeDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'drover.yaml'), `name: watch\nnodes:\n  api: { command: ${forever}, ready: { log: '^ready$' }, watch: { paths: src, debounce: 50ms } }\n`);
    const cluster = await startCluster(join(dir, 'drover.yaml'), { telemetry: { exporter: 'memory' } });
    track(cluster);
    const api = cluster.node('api');
    writeFileSync(join(dir, 'src', 'a.js'), 'new');
    await waitFor(() => ({ restarts: api.snapshot().restarts, state: api.state }), (s) => s.restarts === 1 && s.state === 'ready', { describe: 'api restarted by its watch' });
    const points = getDataPoints(await cluster.telemetry.collectMetrics(), METRIC_PROCESS_RESTARTS);
    // Every reason has a point (0 until it happens): only watch counted.
    expect(points.filter((p) => p.value !== 0).map((p) => [p.attributes[ATTR_RESTART_REASON], p.value])).toEqual([['watch', 1]]);
    // The restart span (`restart api`) ends once the new run is ready.
    await waitFor(
      () => cluster.telemetry.spans().filter((span) => span.name === `${SPAN_NAME_RESTART} api`).map((span) => span.attributes[ATTR_RESTART_REASON]),
      (reasons) => reasons.length === 1 && reasons[0] === 'watch',
      { describe: 'one ended restart span with reason watch' },
    );
  });

  it('fails the start naming the node and the path when a watched path does not exist; nothing runs', async () => {
    const dir = makeDir();
    writeFileSync(join(dir, 'drover.yaml'), `name: watch\nnodes:\n  api: { command: ${forever}, watch: { paths: [src, missing] } }\n`);
    mkdirSync(join(dir, 'src'));
    const { spec } = await loadConfig(join(dir, 'drover.yaml'));
    const cluster = track(new Cluster(spec));
    await expect(cluster.start()).rejects.toMatchObject({
      code: 'ERR_WATCH',
      node: 'api',
      path: join(dir, 'missing'),
      message: `node api: watch.paths: ${join(dir, 'missing')}: no such file or directory`,
    });
    expect(cluster.snapshot().nodes.map((n) => n.pid)).toEqual([null]);
  });

  it('refuses a tree larger than the limit, naming the limit; each file and directory counts once', async () => {
    const dir = makeDir();
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, `f${i}`), '');
    const spec = { paths: [dir], ignore: [], debounceMs: 10, restartDependents: false };
    // 21 entries: the directory and its 20 files.
    const fits = new NodeFileWatch('api', spec, () => undefined, 21);
    await fits.start();
    await fits.close();
    const tooSmall = new NodeFileWatch('api', spec, () => undefined, 20);
    await expect(tooSmall.start()).rejects.toMatchObject({ code: 'ERR_WATCH', message: expect.stringContaining('hold more than 20 files and directories (the limit per node)') });
    await tooSmall.close();
  });

  it('leaves no handle behind: a process that started and stopped a watching cluster exits by itself', async () => {
    const dir = makeDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'drover.yaml'), `name: watch\nnodes:\n  api: { command: ${forever}, ready: { log: '^ready$' }, watch: { paths: src } }\n`);
    const script = `
      const { startCluster } = await import(${JSON.stringify(new URL('../../dist/bundle/index.js', import.meta.url).href)});
      const cluster = await startCluster(${JSON.stringify(join(dir, 'drover.yaml'))});
      console.log('pid', cluster.node('api').pid);
      await cluster.stop();
    `;
    // No process.exit: the run ends only if nothing (a watcher, a timer) keeps the event loop alive.
    const result = await execa('node', ['--input-type=module', '-e', script], { timeout: 20_000, reject: false });
    expect(result.timedOut, result.stderr).toBe(false);
    expect(result.exitCode, result.stderr).toBe(0);
    const pid = Number(/pid (\d+)/.exec(result.stdout)?.[1]);
    expect(isAlive(pid)).toBe(false);
  });
});
