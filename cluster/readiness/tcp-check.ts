import net from 'node:net';
import type { NodeTree } from '../../network/peer-identity.js';
import { describeForeignListener, findPortListener, type PortListener } from './port-owner.js';
import { PollingCheck, type PollingTiming } from './readiness-check.js';

/** For a tcp check with `owned`: whose processes must hold the listening socket. */
export interface PortOwnership {
  /** The node's label in messages (`api`, `api[1]`). */
  readonly node: string;
  /** The port's name among the node's ports, null when it is not one of them. */
  readonly portName: string | null;
  /** The node's current tree (its run's pid and cgroup leaf); null while no run is up. */
  readonly tree: () => NodeTree | null;
}

/**
 * Ready once a TCP connection to host:port succeeds (process-compose lacks this probe); with
 * `ownership`, also once a process of the node's own tree holds the listening socket, so a stray
 * listener on the port is reported by pid and command instead of counting as ready.
 */
export class TcpCheck extends PollingCheck {
  protected readonly kind = 'tcp';
  protected readonly minAttemptTimeoutMs = 100;
  /** The last machine-wide search for a foreign listener (findPortListener's cache). */
  private readonly foreignCache = new Map<string, PortListener>();

  constructor(
    private readonly host: string,
    private readonly port: number,
    timing: PollingTiming,
    private readonly ownership: PortOwnership | null = null,
  ) {
    super(timing);
  }

  async probe(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    if (!(await this.tryConnect(signal, attemptTimeoutMs))) return false;
    return this.ownership === null || this.isOwned(this.ownership);
  }

  describe(): string {
    const ownedBy = this.ownership === null ? '' : ` listened on by node ${this.ownership.node}'s processes`;
    return `a TCP connection to ${this.host}:${this.port}${ownedBy}`;
  }

  protected override attemptMessage(ok: boolean): string | null {
    return ok ? (this.ownership === null ? 'connected' : this.last) : this.last;
  }

  /** Whether the listening socket of the port is held by the node's tree; sets {@link last}. */
  private async isOwned(ownership: PortOwnership): Promise<boolean> {
    const tree = ownership.tree();
    if (tree === null) {
      this.last = `connected, but node ${ownership.node} has no running process to own port ${this.port}`;
      return false;
    }
    const listener = await findPortListener(this.port, tree, this.foreignCache);
    switch (listener.kind) {
      case 'node':
        this.last = `connected; port ${this.port} is listened on by pid ${listener.pid} of node ${ownership.node}`;
        return true;
      case 'none':
        this.last = `connected, but no socket listening on port ${this.port} is visible in this machine's /proc/net/tcp{,6} (host ${this.host} is another machine or network namespace?)`;
        return false;
      case 'foreign':
        this.last = describeForeignListener(this.port, ownership.portName, ownership.node, listener);
        return false;
    }
  }

  private tryConnect(signal: AbortSignal, attemptTimeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      if (!Number.isInteger(this.port)) {
        this.last = `port ${String(this.port)} is not a number (unresolved template?)`;
        resolve(false);
        return;
      }
      const socket = net.connect({ host: this.host, port: this.port });
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (ok: boolean) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(attemptTimeoutMs, () => {
        this.last = 'connect timed out';
        done(false);
      });
      socket.once('connect', () => done(true));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        this.last = `connect failed: ${error.code ?? error.message}`;
        done(false);
      });
    });
  }
}
