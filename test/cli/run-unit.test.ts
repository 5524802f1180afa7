import { describe, expect, it } from 'vitest';
import type { ClusterEvent, ClusterObserver } from '../../contract/types.js';
import { MAX_READINESS_ATTEMPTS, MAX_RECORDED_EVENTS, RunRecorder } from '../../cli/forensics.js';
import { getPortVariable } from '../../cli/run.js';

describe('getPortVariable', () => {
  it('upper-cases node and port names and turns every other character into _', () => {
    expect(getPortVariable('web', 'http')).toBe('DROVER_WEB_HTTP');
    expect(getPortVariable('api-gw', 'http-admin')).toBe('DROVER_API_GW_HTTP_ADMIN');
    expect(getPortVariable('db.primary', 'pg')).toBe('DROVER_DB_PRIMARY_PG');
    expect(getPortVariable('Café', 'x1')).toBe('DROVER_CAF__X1');
  });
});

/** A controller that only publishes what the test emits. */
function createSource(): { subscribe(observer: ClusterObserver): { unsubscribe(): void }; emit(event: ClusterEvent): void } {
  let observer: ClusterObserver | null = null;
  return {
    subscribe(o) {
      observer = o;
      return { unsubscribe: () => (observer = null) };
    },
    emit: (event) => observer?.onEvent(event),
  };
}

describe('RunRecorder', () => {
  it('keeps the last MAX_RECORDED_EVENTS events in order, counts the dropped ones, leaves output lines out', () => {
    const source = createSource();
    const recorder = new RunRecorder(source);
    const total = MAX_RECORDED_EVENTS * 2 + 5;
    for (let i = 0; i < total; i++) {
      source.emit({ type: 'scaled', node: 'a', time: i, from: 1, to: 2 });
      source.emit({ type: 'output', node: 'a', replica: 0, line: { stream: 'stdout', text: 'x', seq: i, time: i } });
    }
    const events = recorder.getEvents();
    expect(events).toHaveLength(MAX_RECORDED_EVENTS);
    expect(events[0]!.time).toBe(total - MAX_RECORDED_EVENTS);
    expect(events.at(-1)!.time).toBe(total - 1);
    expect(recorder.droppedEvents).toBe(total - MAX_RECORDED_EVENTS);
    recorder.close();
    source.emit({ type: 'scaled', node: 'a', time: total, from: 1, to: 2 });
    expect(recorder.getEvents().at(-1)!.time).toBe(total - 1); // closed: nothing more recorded
  });

  it('keeps each replica’s last MAX_READINESS_ATTEMPTS readiness attempts', () => {
    const source = createSource();
    const recorder = new RunRecorder(source);
    for (let attempt = 1; attempt <= MAX_READINESS_ATTEMPTS + 3; attempt++) {
      source.emit({ type: 'readiness', node: 'a', replica: 1, run: 1, time: attempt, attempt, ok: false, kind: 'tcp', message: 'connect failed: ECONNREFUSED' });
    }
    source.emit({ type: 'readiness', node: 'b', replica: 0, run: 1, time: 1, attempt: 1, ok: true, kind: 'http', message: null });
    const [a, b] = recorder.getReadiness();
    expect(a).toMatchObject({ node: 'a', replica: 1, droppedAttempts: 3 });
    expect(a!.attempts).toHaveLength(MAX_READINESS_ATTEMPTS);
    expect(a!.attempts[0]!.attempt).toBe(4);
    expect(b).toMatchObject({ node: 'b', replica: 0, droppedAttempts: 0, attempts: [{ ok: true, kind: 'http' }] });
  });
});
