/**
 * Node lifecycle as named OpenTelemetry events (log records with an `eventName`,
 * `@opentelemetry/api-logs`): `drover.node.ready`, `drover.node.exited`, `drover.node.crashed`,
 * `drover.node.restarting`, `drover.node.failed`, and `drover.fault.injected` / `drover.fault.healed`
 * for injected faults. Each carries the node, replica and the facts of
 * the moment (exit code, signal, error code, restart attempt/reason/delay), and the trace context
 * of the node's current run. Emitted for every node; no command line or environment in them.
 */

import { diag, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { SpanContext } from '@opentelemetry/api';
import { logs, SeverityNumber } from '@opentelemetry/api-logs';
import type { LogAttributes, Logger, LoggerProvider } from '@opentelemetry/api-logs';
import type { ClusterController, ClusterEvent, ClusterObserver, ExitInfo, Subscription } from '../contract/types.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_NODE_NAME,
  ATTR_NODE_REPLICA,
  ATTR_NODE_RUN,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_RESTART_ATTEMPT,
  ATTR_RESTART_DELAY_MS,
  ATTR_RESTART_REASON,
  ATTR_PROCESS_EXIT_SIGNAL,
  EVENT_NODE_CRASHED,
  EVENT_NODE_EXITED,
  EVENT_NODE_FAILED,
  EVENT_NODE_READY,
  EVENT_NODE_RESTARTING,
  EVENT_FAULT_HEALED,
  EVENT_FAULT_INJECTED,
  INSTRUMENTATION_SCOPE_NAME,
} from './semconv.js';
import { getFaultAttributes } from './fault-attributes.js';
import { parseReplicaLabel } from './node-attributes.js';
import { describeExit } from '../contract/lifecycle.js';

/** Options of {@link LifecycleEvents}. */
export interface LifecycleEventsOptions {
  /** The cluster to observe. Read only through `subscribe()`. */
  readonly controller: ClusterController;
  /**
   * Where events go.
   * @default the global logger provider (`logs.getLoggerProvider()`), looked up at `register()`
   */
  readonly loggerProvider?: LoggerProvider;
  /** Trace context of a node's current run (`ClusterTracing.getRunSpanContext`). */
  readonly getSpanContext?: (node: string, replica: number) => SpanContext | undefined;
}

type StateEvent = Extract<ClusterEvent, { type: 'state' }>;

/**
 * Emits lifecycle events. See `docs/telemetry.md` ("Log records and lifecycle events").
 *
 * @example
 * ```ts
 * new LifecycleEvents({ controller: cluster }).register();
 * ```
 */
export class LifecycleEvents {
  private readonly controller: ClusterController;
  private readonly loggerProvider: LoggerProvider | undefined;
  private readonly getSpanContext: ((node: string, replica: number) => SpanContext | undefined) | undefined;
  private logger: Logger | null = null;
  private subscription: Subscription | null = null;

  constructor(options: LifecycleEventsOptions) {
    this.controller = options.controller;
    this.loggerProvider = options.loggerProvider;
    this.getSpanContext = options.getSpanContext;
  }

  /** Subscribes. Calling it again while registered does nothing. */
  register(): void {
    if (this.logger !== null) {
      return;
    }
    this.logger = (this.loggerProvider ?? logs.getLoggerProvider()).getLogger(INSTRUMENTATION_SCOPE_NAME);
    this.subscription = this.controller.subscribe(this.observer);
  }

  /** Unsubscribes. Safe to call when not registered. */
  unregister(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.logger = null;
  }

  private readonly observer: ClusterObserver = {
    wantsOutput: false,
    onEvent: (event) => {
      try {
        this.handleEvent(event);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its event dispatch.
        diag.error('drover LifecycleEvents: failed to emit an event', error);
      }
    },
  };

  private handleEvent(event: ClusterEvent): void {
    if (event.type === 'restarting') {
      this.emit(EVENT_NODE_RESTARTING, SeverityNumber.WARN, event.node, event.replica, event.time, `node ${event.node} restarting in ${event.delayMs} ms (attempt ${event.attempt}, ${event.reason})`, {
        [ATTR_RESTART_ATTEMPT]: event.attempt,
        [ATTR_RESTART_REASON]: event.reason,
        [ATTR_RESTART_DELAY_MS]: event.delayMs,
      });
      return;
    }
    if (event.type === 'fault') {
      // One record per fault, on its first node (a link's source), with every node in drover.fault.nodes.
      const { fault } = event;
      const { name, replica } = parseReplicaLabel(fault.nodes[0] ?? '');
      const injected = event.phase === 'injected';
      this.emit(injected ? EVENT_FAULT_INJECTED : EVENT_FAULT_HEALED, injected ? SeverityNumber.WARN : SeverityNumber.INFO, name, replica, event.time, `fault ${fault.id} ${fault.kind} ${fault.nodes.join(',')} ${injected ? 'injected' : 'healed'}: ${fault.detail} (${fault.by})`, getFaultAttributes(fault) as LogAttributes);
      return;
    }
    if (event.type !== 'state') {
      return;
    }
    const run = { [ATTR_NODE_RUN]: event.run };
    switch (event.to) {
      case 'ready':
        this.emit(EVENT_NODE_READY, SeverityNumber.INFO, event.node, event.replica, event.time, `node ${event.node} is ready`, run);
        return;
      case 'exited':
      case 'backoff': {
        if (event.exit === undefined) {
          return;
        }
        const isCrash = isAbnormalExit(event.exit);
        this.emit(
          isCrash ? EVENT_NODE_CRASHED : EVENT_NODE_EXITED,
          isCrash ? SeverityNumber.ERROR : SeverityNumber.INFO,
          event.node,
          event.replica,
          event.time,
          `node ${event.node} ${describeExit(event.exit)}`,
          { ...run, ...getExitAttributes(event.exit) },
        );
        return;
      }
      case 'failed':
        this.emitFailed(event, run);
        return;
      default:
        return;
    }
  }

  private emitFailed(event: StateEvent, run: LogAttributes): void {
    const attributes: LogAttributes = { ...run, ...(event.exit === undefined ? {} : getExitAttributes(event.exit)) };
    if (event.error !== undefined) {
      attributes[ATTR_ERROR_TYPE] = event.error.code;
    }
    const why = event.error === undefined ? '' : `: ${event.error.code}: ${event.error.message.split('\n', 1)[0]}`;
    this.emit(EVENT_NODE_FAILED, SeverityNumber.ERROR, event.node, event.replica, event.time, `node ${event.node} failed${why}`, attributes);
  }

  private emit(eventName: string, severityNumber: SeverityNumber, node: string, replica: number, timeMs: number, body: string, attributes: LogAttributes): void {
    const spanContext = this.getSpanContext?.(node, replica);
    this.logger?.emit({
      eventName,
      timestamp: new Date(timeMs),
      severityNumber,
      severityText: SeverityNumber[severityNumber],
      body,
      attributes: { [ATTR_NODE_NAME]: node, [ATTR_NODE_REPLICA]: replica, ...attributes },
      context: spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext),
    });
  }
}

function isAbnormalExit(exit: ExitInfo): boolean {
  return exit.signal !== null || (exit.exitCode !== null && exit.exitCode !== 0);
}

function getExitAttributes(exit: ExitInfo): LogAttributes {
  const attributes: LogAttributes = {};
  if (exit.exitCode !== null) {
    attributes[ATTR_PROCESS_EXIT_CODE] = exit.exitCode;
  }
  if (exit.signal !== null) {
    attributes[ATTR_PROCESS_EXIT_SIGNAL] = exit.signal;
  }
  return attributes;
}
