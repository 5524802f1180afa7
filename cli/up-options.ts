/**
 * What the foreground `up` (up.ts), the detaching `up` (up-detached.ts) and the background `up`
 * share: their options and the checks both run before anything starts. Loads no config code.
 */
import type { ConfigIssue } from '../config/index.js';
import { DroverError } from '../contract/errors.js';
import type { ClusterSpec } from '../contract/types.js';
import { probeSocket } from './control-protocol.js';
import type { StatePaths } from './state-dir.js';

/** Options of `drover up` (cli/up.ts `runUp`) and of {@link runDetached}. */
export interface UpOptions {
  /** The config file that names the cluster (its state dir). */
  readonly file: string;
  /** Every config file, merged in order (`file` first). @default [file] */
  readonly files?: readonly string[];
  /** Profiles to enable. @default DROVER_PROFILES */
  readonly profiles?: readonly string[] | undefined;
  readonly strict: boolean;
  /**
   * Start in the background and return once every node has started (or failed), as `docker
   * compose up -d` does; with `wait`, once every node is ready (or failed).
   */
  readonly detach: boolean;
  /** With `detach`: return once every node is ready, not only started (`docker compose up --wait`). @default false */
  readonly wait?: boolean;
  /** Prefix lines with the time they were read. */
  readonly timestamps: boolean;
  /** Live status footer when stdout is a TTY; false = plain lines even on a TTY. */
  readonly tty: boolean;
  /**
   * Set by `up --detach` on the background `up` it starts: output goes to the state dir's
   * `up.log` (capped and rotated, see {@link UpLog}) instead of stdout. @default false
   */
  readonly background?: boolean;
  /**
   * Set by `up --detach` on the background `up` it starts: the Unix socket the detaching `up`
   * listens on; the background `up` connects to it and writes a {@link StartNotice} once every
   * node started (with `notifyOnStarted`) and once its start has settled (every node ready, or
   * failed). @default none
   */
  readonly readySocket?: string;
  /** With `readySocket`: also tell it when every node has started (`up -d` without `--wait`). @default false */
  readonly notifyOnStarted?: boolean;
  /**
   * The config as loaded and validated already (the background `up` gets it from `up --detach`):
   * it is used as is, and the config files are not read again. @default load `files`
   */
  readonly loaded?: { readonly spec: ClusterSpec; readonly warnings: readonly ConfigIssue[] };
  /** Start only these nodes and (unless `noDeps`) their dependencies; the others stay `pending`. @default every node */
  readonly only?: readonly string[];
  /** With `only`: exactly those nodes, not their dependencies (`--no-deps`). @default false */
  readonly noDeps?: boolean;
}

/**
 * What the background `up` writes on the ready socket: `started` once every node of the start has
 * been spawned or has failed, `settled` once the start has settled (every node ready, or failed).
 * A line break and the cluster as `GET /v1/cluster` answered at that moment follow the word.
 */
export type StartNotice = 'started' | 'settled';

/**
 * The names of `only` that are no node of `spec`, as ERR_UNKNOWN_NODE naming them and the known
 * names, before anything starts.
 */
export function checkSubset(spec: { readonly nodes: readonly { readonly name: string }[] }, only: readonly string[] | undefined): void {
  const known = spec.nodes.map((n) => n.name);
  const unknown = (only ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new DroverError('ERR_UNKNOWN_NODE', `drover up: unknown node${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; the nodes are ${known.join(', ')}`, { node: unknown[0]! });
  }
}

/**
 * The error for an `up` of a config whose cluster runs: which pid holds the state dir's lock, and
 * how to reach or stop it (through the control socket while it answers, else with `kill`).
 */
export async function getAlreadyRunningError(paths: StatePaths, fileArg: string, holderPid: number | null): Promise<DroverError> {
  const who = holderPid === null ? 'another drover up' : `drover up pid ${holderPid}`;
  if ((await probeSocket(paths.socket)) === 'live') {
    return new DroverError('ERR_CONTROL_API', `a cluster is already running for this config: ${who} (control socket ${paths.socket}); see it with \`drover ps -f ${fileArg}\`, stop it with \`drover down -f ${fileArg}\``, holderPid === null ? {} : { pid: holderPid });
  }
  const stop = holderPid === null ? `stop the process that holds it (\`fuser ${paths.lock}\` names it)` : `stop it with \`kill ${holderPid}\` (a graceful down)`;
  return new DroverError('ERR_CONTROL_API', `a cluster is already running for this config: ${who} holds ${paths.lock}, but its control socket ${paths.socket} is gone (deleted, or not created yet); ${stop}`, holderPid === null ? {} : { pid: holderPid });
}
