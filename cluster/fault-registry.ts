/**
 * The active faults of one cluster. Every fault kind (process, network, clock) registers here
 * when injected, with the action that heals it, so `faults()` lists them all, `healFaults()`
 * undoes any or all, and each injection and heal is published as one `fault` event (which
 * telemetry turns into spans, events and metrics).
 */
import { DroverError } from '../contract/errors.js';
import type { ClusterEvent, FaultKind, FaultRecord } from '../contract/types.js';

/** What a fault kind hands the registry when it injects a fault. */
export interface FaultInjection {
  readonly kind: FaultKind;
  readonly nodes: readonly string[];
  readonly link?: FaultRecord['link'];
  readonly partition?: FaultRecord['partition'];
  readonly detail: string;
  /** Who asked (`api`, `cli`, `chaos <seed>`). @default 'api' */
  readonly by?: string;
  /** Undoes the fault. Called once, by {@link FaultRegistry.heal}; must not throw for a fault already gone (a crashed node restarted). */
  readonly heal: () => Promise<void> | void;
}

export class FaultRegistry {
  private readonly active = new Map<string, { record: FaultRecord; heal: () => Promise<void> | void }>();
  private nextId = 1;
  /** The newest record of each kind per node, kept after it healed (what an injection just made). */
  private readonly newest = new Map<string, FaultRecord>();

  constructor(
    private readonly publish: (event: ClusterEvent) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Records an injected fault and publishes it; returns its record. */
  add(injection: FaultInjection): FaultRecord {
    const time = this.clock();
    const record: FaultRecord = {
      id: `f${this.nextId++}`,
      kind: injection.kind,
      nodes: [...injection.nodes],
      link: injection.link ?? null,
      ...(injection.partition === undefined ? {} : { partition: injection.partition }),
      detail: injection.detail,
      since: time,
      by: injection.by ?? 'api',
    };
    this.active.set(record.id, { record, heal: injection.heal });
    for (const node of record.nodes) this.newest.set(`${record.kind} ${node}`, record);
    this.publish({ type: 'fault', phase: 'injected', fault: record, time });
    return record;
  }

  /** Active faults, oldest first. */
  list(): FaultRecord[] {
    return [...this.active.values()].map((entry) => entry.record);
  }

  /** The newest fault of `kind` on `node` ever added, healed or not (null: none). */
  newestOf(kind: FaultKind, node: string): FaultRecord | null {
    return this.newest.get(`${kind} ${node}`) ?? null;
  }

  /** Active faults of `kind` acting on `node`. */
  find(kind: FaultKind, node: string): FaultRecord[] {
    return this.list().filter((f) => f.kind === kind && f.nodes.includes(node));
  }

  /**
   * Heals fault `id` (every active fault, newest first, when omitted).
   * @throws {DroverError} ERR_UNKNOWN_FAULT for an id never issued.
   */
  async heal(id?: string): Promise<void> {
    if (id === undefined) {
      for (const fault of this.list().reverse()) await this.heal(fault.id);
      return;
    }
    const entry = this.active.get(id);
    if (entry === undefined) {
      const issued = /^f(\d+)$/.exec(id);
      if (issued !== null && Number(issued[1]) < this.nextId) return; // healed already
      throw new DroverError('ERR_UNKNOWN_FAULT', `no fault ${JSON.stringify(id)}: active faults are ${this.active.size === 0 ? 'none' : [...this.active.keys()].join(', ')}`);
    }
    this.active.delete(id);
    await entry.heal();
    this.publish({ type: 'fault', phase: 'healed', fault: entry.record, time: this.clock() });
  }

  /** Forgets a fault that ended by itself (a paused node that was stopped), publishing its end. */
  forget(id: string): void {
    const entry = this.active.get(id);
    if (entry === undefined) return;
    this.active.delete(id);
    this.publish({ type: 'fault', phase: 'healed', fault: entry.record, time: this.clock() });
  }
}
