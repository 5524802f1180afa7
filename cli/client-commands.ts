import readline from 'node:readline';
import { request, requestJson } from './control-client.js';
import type { NodeRow } from './control-server.js';
import { getStatePaths } from './state-dir.js';

interface ClusterAnswer {
  readonly name: string;
  readonly nodes: readonly NodeRow[];
}

function formatUptime(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** `drover ps`: one row per node replica. */
export async function runPs(options: { file: string; json: boolean }): Promise<number> {
  const answer = await requestJson<ClusterAnswer>(getStatePaths(options.file), options.file, 'GET', '/v1/cluster');
  if (options.json) {
    process.stdout.write(`${JSON.stringify(answer.nodes, null, 2)}\n`);
    return 0;
  }
  const rows = [['NAME', 'REPLICA', 'STATE', 'PID', 'RESTARTS', 'UPTIME', 'ERROR']];
  for (const n of answer.nodes) {
    rows.push([n.name, String(n.replica), n.state, n.pid === null ? '-' : String(n.pid), String(n.restarts), formatUptime(n.uptimeMs), n.error ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()}\n`);
  return 0;
}

/** `drover logs NODE`: lines from the ring buffer; `--follow` keeps printing new ones. */
export async function runLogs(options: { file: string; node: string; lines: number; follow: boolean }): Promise<number> {
  const query = `?n=${options.lines}${options.follow ? '&follow=1' : ''}`;
  const res = await request(getStatePaths(options.file), options.file, 'GET', `/v1/nodes/${encodeURIComponent(options.node)}/logs${query}`);
  for await (const line of readline.createInterface({ input: res })) {
    if (line === '') continue;
    const entry = JSON.parse(line) as { stream: string; text: string };
    (entry.stream === 'stderr' ? process.stderr : process.stdout).write(`${entry.text}\n`);
  }
  return 0;
}

/** `drover start|stop|restart NODE`. */
export async function runNodeAction(options: { file: string; node: string; action: 'start' | 'stop' | 'restart' }): Promise<number> {
  await requestJson(getStatePaths(options.file), options.file, 'POST', `/v1/nodes/${encodeURIComponent(options.node)}/${options.action}`);
  process.stdout.write(`${options.node}: ${options.action === 'stop' ? 'stopped' : options.action === 'start' ? 'started' : 'restarted'}\n`);
  return 0;
}

/** `drover down`: graceful stop of the running cluster; returns once every node stopped. */
export async function runDown(options: { file: string }): Promise<number> {
  await requestJson(getStatePaths(options.file), options.file, 'POST', '/v1/down');
  process.stdout.write('cluster stopped\n');
  return 0;
}
