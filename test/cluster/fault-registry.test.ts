import { describe, expect, it } from 'vitest';
import { FaultRegistry } from '../../cluster/fault-registry.js';
import { isDroverError } from '../../contract/errors.js';
import type { ClusterEvent } from '../../contract/types.js';

function setup() {
  const events: ClusterEvent[] = [];
  let now = 1000;
  const registry = new FaultRegistry((e) => events.push(e), () => now);
  return { registry, events, tick: (ms: number) => (now += ms) };
}

describe('FaultRegistry', () => {
  it('records, lists and heals faults in order, publishing injected and healed events', async () => {
    const { registry, events, tick } = setup();
    const healed: string[] = [];
    const a = registry.add({ kind: 'pause', nodes: ['a'], detail: 'paused', heal: () => void healed.push('a') });
    tick(5);
    const b = registry.add({ kind: 'latency', nodes: ['a', 'b'], link: { from: 'a', to: 'b', port: null }, detail: 'latency 200 ms', by: 'cli', heal: async () => void healed.push('b') });
    expect([a.id, b.id]).toEqual(['f1', 'f2']);
    expect(registry.list().map((f) => [f.id, f.kind, f.since, f.by])).toEqual([
      ['f1', 'pause', 1000, 'api'],
      ['f2', 'latency', 1005, 'cli'],
    ]);
    expect(registry.find('latency', 'b').map((f) => f.id)).toEqual(['f2']);
    tick(10);
    await registry.heal();
    expect(healed).toEqual(['b', 'a']); // newest first
    expect(registry.list()).toEqual([]);
    expect(events.map((e) => (e.type === 'fault' ? `${e.phase} ${e.fault.id} @${e.time}` : e.type))).toEqual([
      'injected f1 @1000',
      'injected f2 @1005',
      'healed f2 @1015',
      'healed f1 @1015',
    ]);
  });

  it('healing a healed fault is a no-op; an id never issued is ERR_UNKNOWN_FAULT', async () => {
    const { registry, events } = setup();
    let heals = 0;
    const f = registry.add({ kind: 'crash', nodes: ['a'], detail: 'crashed', heal: () => void heals++ });
    await registry.heal(f.id);
    await registry.heal(f.id);
    expect(heals).toBe(1);
    expect(events.filter((e) => e.type === 'fault' && e.phase === 'healed')).toHaveLength(1);
    const error = await registry.heal('f9').catch((e: unknown) => e);
    expect(isDroverError(error, 'ERR_UNKNOWN_FAULT')).toBe(true);
    expect((error as Error).message).toContain('"f9"');
  });

  it('forget() ends a fault without running its heal action', () => {
    const { registry, events } = setup();
    let heals = 0;
    const f = registry.add({ kind: 'pause', nodes: ['a'], detail: 'paused', heal: () => void heals++ });
    registry.forget(f.id);
    expect(heals).toBe(0);
    expect(registry.list()).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'fault', phase: 'healed', fault: { id: 'f1' } });
  });
});
