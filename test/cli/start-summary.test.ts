// What `up`, `up --wait` and `up -d` count as up: pure logic over ps rows.
import { describe, expect, it } from 'vitest';
import { formatStartSummary, getJobCodes, summarizeStart, type SummaryRow } from '../../cli/start-summary.js';

const row = (name: string, state: string, exitCode: number | null = null, replica: number | null = 0): SummaryRow => ({ name, replica, state, exitCode, error: null });
const jobs = getJobCodes({ nodes: [{ name: 'migrate', ready: { kind: 'exit', codes: [0] } }] } as never);

describe('summarizeStart', () => {
  it('ready: a running service is not up yet, a completed job is; a job that failed is named', () => {
    const s = summarizeStart([row('db', 'ready'), row('api', 'running'), row('migrate', 'exited', 0), row('web', 'pending')], jobs);
    expect(s.failed.map((n) => n.label)).toEqual(['api']);
    expect(formatStartSummary(s)).toBe('1/2 nodes ready, 1/1 job completed');
    expect(summarizeStart([row('migrate', 'exited', 3)], jobs).failed.map((n) => n.label)).toEqual(['migrate']);
  });

  it('started (up -d): running and ready services count, a job still running counts, a failed or crashing node does not', () => {
    const s = summarizeStart([row('db', 'ready'), row('api', 'running'), row('migrate', 'running'), row('web', 'pending')], jobs, 'started');
    expect(s.failed).toEqual([]);
    expect(formatStartSummary(s)).toBe('2/2 nodes started, 1/1 job started or completed');
    const bad = summarizeStart([row('api', 'failed'), row('db', 'backoff'), row('cache', 'running')], jobs, 'started');
    expect(bad.failed.map((n) => `${n.label} ${n.state}`)).toEqual(['api failed', 'db backoff']);
    expect(formatStartSummary(bad)).toBe('1/3 nodes started');
  });

  it('leaves out nodes scaled to 0 and nodes not part of the start', () => {
    const s = summarizeStart([row('db', 'running', null, null), row('web', 'pending')], jobs, 'started');
    expect(s).toMatchObject({ ready: 0, services: 0, failed: [] });
  });
});
