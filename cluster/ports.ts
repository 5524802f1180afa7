/**
 * Free TCP ports for nodes. get-port checks that a candidate is free to bind on every local
 * interface; the machine-wide lease registry (port-lease.ts) makes the choice exclusive across
 * processes: two managers (parallel vitest workers, CI jobs, several `drover up`) that pick the
 * same free candidate before either node binds it cannot both lease it.
 */
import { createRequire } from 'node:module';
import { DroverError } from '../contract/errors.js';
import { getPortLeases, type PortLeaseRegistry } from './port-lease.js';

/** Environment variable pinning the candidate ports to `low-high` (both inclusive), e.g. `20000-20999`. */
export const PORT_RANGE_ENV = 'DROVER_PORT_RANGE';

/** Candidates tried per port before giving up: each one was free to bind but leased by another process. */
const MAX_CANDIDATES_PER_PORT = 256;

/** An inclusive port range. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/**
 * The range in `DROVER_PORT_RANGE` (`low-high`, 1024 ≤ low ≤ high ≤ 65535), or null when unset or empty.
 * @throws {DroverError} ERR_INVALID_OPTION naming the variable and its value when it is malformed.
 */
export function getPortRange(env: NodeJS.ProcessEnv = process.env): PortRange | null {
  const text = env[PORT_RANGE_ENV]?.trim();
  if (text === undefined || text === '') return null;
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  const low = Number(match?.[1]);
  const high = Number(match?.[2]);
  if (match === null || low < 1024 || high > 65_535 || low > high) {
    throw new DroverError('ERR_INVALID_OPTION', `${PORT_RANGE_ENV}=${JSON.stringify(text)} is not a port range: expected low-high with 1024 <= low <= high <= 65535, e.g. 20000-20999`);
  }
  return { low, high };
}

/** What {@link allocatePorts} needs besides the port names. */
export interface AllocatePortsOptions {
  /** Ports not to hand out (e.g. ones that just failed with EADDRINUSE). @default [] */
  readonly exclude?: readonly number[];
  /** Who the ports are for, written into each lease (`cluster/node[replica]`). @default 'drover' */
  readonly owner?: string;
  /** The lease registry. @default the machine-wide one ({@link getPortLeases}) */
  readonly leases?: PortLeaseRegistry;
  /** Candidate range. @default DROVER_PORT_RANGE, else any free port the kernel hands out */
  readonly range?: PortRange | null;
}

/**
 * One free, leased port per name. Each port is free to bind when chosen and leased to this
 * process until {@link releasePorts} (or this process's exit); on failure the ports already
 * leased by this call are released.
 * @throws {DroverError} ERR_PORT_ALLOCATION when no candidate could be leased (range exhausted,
 *   lease directory unusable); ERR_INVALID_OPTION for a malformed DROVER_PORT_RANGE.
 */
export async function allocatePorts(names: readonly string[], options: AllocatePortsOptions = {}): Promise<Record<string, number>> {
  const { exclude = [], owner = 'drover' } = options;
  const range = options.range === undefined ? getPortRange() : options.range;
  const leases = options.leases ?? getPortLeases();
  const ports: Record<string, number> = {};
  const tried: number[] = [];
  if (names.length === 0) return ports;
  // Loaded on the first node with ports: `spawn` and clusters without ports never need it. With
  // require() (Node ≥ 20.19 requires an ES module as its namespace): the CLI's CommonJS bundle
  // would read import()'s `default` as the whole namespace.
  const { default: getPort, portNumbers } = createRequire(import.meta.url)('get-port') as typeof import('get-port');
  try {
    for (const name of names) {
      for (let attempt = 0; ; attempt++) {
        const avoid = [...exclude, ...Object.values(ports), ...tried];
        const candidate = await getPort({ exclude: avoid, ...(range === null ? {} : { port: portNumbers(range.low, range.high) }) });
        // get-port falls back to any free port when none of the listed ones is free.
        if (range !== null && (candidate < range.low || candidate > range.high)) {
          throw new DroverError('ERR_PORT_ALLOCATION', `no free port for ${owner} port ${name} in ${PORT_RANGE_ENV}=${range.low}-${range.high}: every port of the range is bound or leased by drover (${tried.length} leased by other processes); widen the range`, {
            reason: 'range-exhausted',
          });
        }
        if (await leases.tryAcquire(candidate, `${owner}:${name}`)) {
          ports[name] = candidate;
          break;
        }
        tried.push(candidate);
        if (attempt + 1 >= MAX_CANDIDATES_PER_PORT) {
          throw new DroverError('ERR_PORT_ALLOCATION', `no port for ${owner} port ${name}: ${tried.length} free candidates were all leased by other drover processes (lease directory ${leases.directory})`, {
            reason: 'all-leased',
            path: leases.directory,
          });
        }
      }
    }
  } catch (error) {
    await releasePorts(Object.values(ports), leases);
    throw error;
  }
  return ports;
}

/**
 * Leases exactly `ports` (all or none): true when every lease is held now; false, with none kept,
 * when a live owner holds one of them.
 * @throws {DroverError} ERR_PORT_ALLOCATION when the lease directory is unusable.
 */
export async function leasePorts(ports: Readonly<Record<string, number>>, owner: string, leases: PortLeaseRegistry = getPortLeases()): Promise<boolean> {
  const taken: number[] = [];
  try {
    for (const [name, port] of Object.entries(ports)) {
      if (!(await leases.tryAcquire(port, `${owner}:${name}`))) {
        await releasePorts(taken, leases);
        return false;
      }
      taken.push(port);
    }
  } catch (error) {
    await releasePorts(taken, leases);
    throw error;
  }
  return true;
}

/** Releases the leases of `ports` held by this process (others' leases and unleased ports are left alone). */
export async function releasePorts(ports: Iterable<number>, leases: PortLeaseRegistry = getPortLeases()): Promise<void> {
  for (const port of ports) await leases.release(port);
}

/** Whether an output line says a bind failed because the address was taken. */
export function isAddressInUseLine(text: string): boolean {
  return /EADDRINUSE|address already in use/i.test(text);
}
