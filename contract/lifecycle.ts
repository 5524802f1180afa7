/**
 * The node lifecycle every layer shares: the legal transitions between {@link NodeState}s, the
 * predicates that group states, how an exit is described in words, and how a replica is named.
 * The cluster's state machine enforces {@link NODE_TRANSITIONS}; the CLI, telemetry and tests read
 * states only through these predicates, so a new state is classified in one place.
 */
import type { ExitInfo, NodeState } from './types.js';

/**
 * Which state may follow which. `pending` is a node not started yet; `starting` a run being
 * spawned; `running`/`ready` a live run (ready: its readiness check passed); `paused` a ready run
 * whose whole tree is frozen (`node.pause()`; `resume()` returns it to `ready`); `stopping` a stop in
 * progress; `backoff` a restart scheduled; `stopped`, `exited`, `failed` a run over.
 */
export const NODE_TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = {
  pending: ['starting', 'stopped', 'failed'],
  starting: ['running', 'backoff', 'failed', 'stopped', 'exited'],
  running: ['ready', 'stopping', 'backoff', 'exited', 'failed', 'stopped'],
  ready: ['paused', 'stopping', 'backoff', 'exited', 'failed', 'stopped'],
  // A paused run ends like a ready one when it is stopped or killed (SIGKILL reaches a frozen tree).
  paused: ['ready', 'stopping', 'backoff', 'exited', 'failed', 'stopped'],
  stopping: ['stopped', 'failed'],
  backoff: ['starting', 'stopped', 'failed'],
  stopped: ['starting', 'failed'],
  exited: ['starting', 'stopped', 'failed'],
  failed: ['starting', 'stopped'],
};

/** True when `to` may follow `from` (see {@link NODE_TRANSITIONS}). */
export function isLegalTransition(from: NodeState, to: NodeState): boolean {
  return NODE_TRANSITIONS[from].includes(to);
}

/** A run is over and nothing is scheduled: `stopped`, `exited`, `failed`. */
export function isFinalState(state: NodeState): boolean {
  return state === 'stopped' || state === 'exited' || state === 'failed';
}

/** No process and nothing scheduled: a final state, or `pending` (never started). A stop has nothing to wait for. */
export function isAtRest(state: NodeState): boolean {
  return state === 'pending' || isFinalState(state);
}

/** A process of the node exists: `starting`, `running`, `ready`, `paused` (frozen, but alive), `stopping`. */
export function hasLiveRun(state: NodeState): boolean {
  return state === 'starting' || state === 'running' || state === 'ready' || state === 'paused' || state === 'stopping';
}

/** The process is up and not being stopped: `running` or `ready`. A `paused` run is not running: its tree is frozen. */
export function isRunningState(state: NodeState): boolean {
  return state === 'running' || state === 'ready';
}

/** The node no longer holds up a cluster's start: `ready`, `paused` (it was ready) or a final state. */
export function isSettledState(state: NodeState): boolean {
  return state === 'ready' || state === 'paused' || isFinalState(state);
}

/** A transition into `to` ends the run that was live (its process is gone): a final state or `backoff`. */
export function endsRun(to: NodeState): boolean {
  return isFinalState(to) || to === 'backoff';
}

/** A start is in progress: the run is being spawned (`starting`) or waits for its readiness check (`running`). */
export function isStartInProgress(state: NodeState): boolean {
  return state === 'starting' || state === 'running';
}

/**
 * A transition into `to` ends a run's start without the run becoming `ready`: a stop begins
 * (`stopping`) or the run ends ({@link endsRun}).
 */
export function abortsStart(to: NodeState): boolean {
  return to === 'stopping' || endsRun(to);
}

/** One phrase for how a run ended: `exited with code 3`, `killed by SIGKILL (stop timeout ran out)`, `lost`. */
export function describeExit(exit: ExitInfo): string {
  if (exit.signal !== null) return `killed by ${exit.signal}${exit.forcedKill ? ' (stop timeout ran out)' : ''}`;
  if (exit.exitCode !== null) return `exited with code ${exit.exitCode}`;
  return 'lost';
}

/** How a replica is named in messages and tables: `api` for replica 0, `api[2]` for the others. */
export function getReplicaLabel(node: string, replica: number): string {
  return replica === 0 ? node : `${node}[${replica}]`;
}
