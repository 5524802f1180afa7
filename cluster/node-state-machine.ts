/**
 * The state of one node replica: the only holder of its {@link NodeState}, the time it entered
 * it, and its run number. Every change goes through {@link NodeStateMachine.transition}, which
 * checks the change against the lifecycle table of `contract/lifecycle.ts` and rejects one the
 * table forbids, so a state can never be reached by a path nobody designed.
 */
import { DroverError } from '../contract/errors.js';
import { isLegalTransition } from '../contract/lifecycle.js';
import type { NodeState } from '../contract/types.js';

/** One accepted transition. */
export interface Transition {
  readonly from: NodeState;
  readonly to: NodeState;
  /** Epoch ms the new state was entered. */
  readonly time: number;
  /** The run number after the transition (a transition to `starting` begins the next run). */
  readonly run: number;
}

export class NodeStateMachine {
  private current: NodeState = 'pending';
  private since: number;
  private runNumber = 0;

  /** @param label the node as messages name it (`api`, `api[2]`). */
  constructor(
    private readonly label: string,
    private readonly clock: () => number,
  ) {
    this.since = clock();
  }

  get state(): NodeState {
    return this.current;
  }

  /** Epoch ms the current state was entered. */
  get stateSince(): number {
    return this.since;
  }

  /** Runs started so far (0 before the first start). */
  get run(): number {
    return this.runNumber;
  }

  /**
   * Moves to `to`. Returns the transition, or null when the node is in `to` already (no change).
   * @throws {DroverError} ERR_ILLEGAL_TRANSITION when the lifecycle table forbids `from → to`; the
   *   state is left as it was.
   */
  transition(to: NodeState): Transition | null {
    const from = this.current;
    if (from === to) return null;
    if (!isLegalTransition(from, to)) {
      throw new DroverError('ERR_ILLEGAL_TRANSITION', `node ${this.label}: illegal state transition ${from} → ${to}`);
    }
    this.current = to;
    this.since = this.clock();
    if (to === 'starting') this.runNumber++;
    return { from, to, time: this.since, run: this.runNumber };
  }
}
