/**
 * The messages between the manager's {@link NetworkRelay} and its worker thread (relay-worker.ts).
 * Requests carry an `id` answered by one `reply`; the worker's own request, `lookup`, is answered
 * by a `lookup-reply` with the same id.
 */
import type { LinkFault, RouteLookup } from './relay.js';

export type RelayRequest =
  | { readonly op: 'addRoute'; readonly id: number; readonly to: string; readonly port: string; readonly listenPort: number }
  | { readonly op: 'setFaults'; readonly id: number; readonly faults: readonly LinkFault[] }
  | { readonly op: 'reset'; readonly id: number; readonly from: string; readonly to: string; readonly port: string | null }
  | { readonly op: 'openLinks'; readonly id: number }
  | { readonly op: 'close'; readonly id: number }
  | { readonly op: 'lookup-reply'; readonly id: number; readonly lookup: RouteLookup };

export type RelayResponse =
  | { readonly op: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: { readonly message: string; readonly code?: string } }
  | { readonly op: 'lookup'; readonly id: number; readonly to: string; readonly port: string };
