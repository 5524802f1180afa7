/**
 * The relay's worker thread: owns every relay socket (listeners and relayed connections) so the
 * bytes of busy links, delayed chunks and /proc scans for peer identity run off the manager's event
 * loop. Asks the manager, once per accepted connection, for the nodes' trees and the target port.
 */
import { parentPort } from 'node:worker_threads';
import { RelayEngine, type RouteLookup } from './relay.js';
import type { RelayRequest, RelayResponse } from './relay-protocol.js';

const port = parentPort;
if (port === null) throw new Error('relay-worker.js runs only as a worker thread (new Worker)');

const lookups = new Map<number, (lookup: RouteLookup) => void>();
let nextLookup = 1;
const post = (message: RelayResponse) => port.postMessage(message);

const engine = new RelayEngine({
  lookup: (to, portName) =>
    new Promise<RouteLookup>((resolve) => {
      const id = nextLookup++;
      lookups.set(id, resolve);
      post({ op: 'lookup', id, to, port: portName });
    }),
});

async function handle(request: Exclude<RelayRequest, { op: 'lookup-reply' }>): Promise<unknown> {
  switch (request.op) {
    case 'addRoute':
      return engine.addRoute(request.to, request.port, request.listenPort);
    case 'setFaults':
      return engine.setFaults(request.faults);
    case 'reset':
      return engine.reset(request.from, request.to, request.port);
    case 'openLinks':
      return engine.openLinks();
    case 'close':
      return engine.close();
  }
}

port.on('message', (request: RelayRequest) => {
  if (request.op === 'lookup-reply') {
    const resolve = lookups.get(request.id);
    lookups.delete(request.id);
    resolve?.(request.lookup);
    return;
  }
  handle(request).then(
    (value) => {
      post({ op: 'reply', id: request.id, value });
      // Nothing of the relay is left after a close: the thread ends once its port is closed.
      if (request.op === 'close') port.close();
    },
    (error: NodeJS.ErrnoException) => post({ op: 'reply', id: request.id, error: { message: error.message, ...(error.code === undefined ? {} : { code: error.code }) } }),
  );
});
