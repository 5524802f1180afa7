/**
 * Lifecycle spans for a cluster's nodes, made from controller events. Spans cover operations
 * (start, stop, restart), not states, and take their start and end times from the events' `time`.
 */

import { diag, isSpanContextValid, ROOT_CONTEXT, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Link, Span, SpanContext, Tracer, TracerProvider } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type {
  ClusterController,
  ClusterEvent,
  ClusterObserver,
  ClusterSnapshot,
  ClusterSpec,
  ExitInfo,
  FaultEvent,
  FaultRecord,
  SpawnEnvironmentProvider,
  StopReport,
  Subscription,
} from '../contract/types.js';
import { describeFaultTarget } from '../contract/fault-target.js';
import { describeExit, isSettledState, isStartInProgress } from '../contract/lifecycle.js';
import { getCommandAttributes } from './command-attributes.js';
import { getNodeAttributes, getNodeKey, parseReplicaLabel } from './node-attributes.js';
import { getFaultAttributes } from './fault-attributes.js';
import {
  ATTR_CLUSTER_NAME,
  ATTR_CLUSTER_NODE_COUNT,
  EVENT_NAME_SPAWNED,
  SPAN_NAME_CLUSTER_UP,
  SPAN_NAME_FAULT,
  ATTR_ERROR_TYPE,
  ATTR_NODE_RUN,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_PID,
  ATTR_STOP_COMMAND_DURATION_MS,
  ATTR_STOP_COMMAND_EXIT_CODE,
  ATTR_STOP_COMMAND_OUTCOME,
  ATTR_STOP_FORCED_KILL,
  ATTR_STOP_SIGNAL,
  ATTR_RESTART_ATTEMPT,
  ATTR_RESTART_REASON,
  ATTR_READINESS_ATTEMPT,
  ATTR_READINESS_ATTEMPTS,
  ATTR_READINESS_CHECK_KIND,
  ATTR_READINESS_MESSAGE,
  ATTR_READINESS_OK,
  ERROR_TYPE_VALUE_OTHER,
  EVENT_NAME_READINESS_ATTEMPT,
  ERROR_TYPE_VALUE_PROCESS_EXITED,
  ERROR_TYPE_VALUE_STOPPED,
  INSTRUMENTATION_SCOPE_NAME,
  READINESS_EVENT_LIMIT,
  READINESS_MESSAGE_MAX_LENGTH,
  RESTART_REASON_VALUE_MANUAL,
  RESTART_REASON_VALUE_WATCH,
  SPAN_NAME_RESTART,
  SPAN_NAME_START,
  SPAN_NAME_STOP,
} from './semconv.js';

/** Options of {@link ClusterTracing}. */
export interface ClusterTracingOptions {
  /**
   * The cluster to observe: read through `subscribe()`; each run's `TRACEPARENT` is given through
   * `provideSpawnEnvironment()`.
   */
  readonly controller: ClusterController;
  /**
   * Where spans are created.
   * @default the global tracer provider (`trace.getTracerProvider()` from `@opentelemetry/api`),
   * looked up at `register()` time
   */
  readonly tracerProvider?: TracerProvider;
  /**
   * Wall clock in epoch milliseconds; ends the spans still open at `unregister()`.
   * @default Date.now
   */
  readonly clock?: () => number;
  /**
   * The cluster's spec: `start` spans get `process.executable.name` from each node's command, and
   * `process.command_args` (redacted) for nodes with `telemetry.recordArgs`.
   * @default none (no command attributes)
   */
  readonly spec?: ClusterSpec;
  /**
   * Open a `cluster up` root span at `register()` that ends once every node has settled (`ready`,
   * `exited`, `stopped` or `failed`); the node `start` spans of that first start are its children.
   * `drover up` and `startTelemetry` turn it on.
   * @default false
   */
  readonly isClusterUpTraced?: boolean;
}

type StateEvent = Extract<ClusterEvent, { type: 'state' }>;
type RestartingEvent = Extract<ClusterEvent, { type: 'restarting' }>;
type ReadinessEvent = Extract<ClusterEvent, { type: 'readiness' }>;

interface RestartOperation {
  readonly span: Span;
  /** Stops that belong to this restart (a manual restart stops the node first): 1 or 0. */
  stopsAllowed: number;
  /** True while a stop that belongs to this restart is in progress. */
  ownsStop: boolean;
}

/** Readiness attempts seen for the open `start` span. */
interface StartAttempts {
  /** Run of the start span; null when the span came from a snapshot (the first attempt's run is adopted). */
  run: number | null;
  /** Highest attempt number seen. */
  count: number;
  /** The latest attempt past the event limit, added when the span ends (so the last one is always there). */
  held: ReadinessEvent | null;
}

/** Open spans of one node replica. */
interface NodeSpans {
  start: Span | null;
  /** Readiness attempts of the open `start` span. */
  attempts: StartAttempts;
  stop: Span | null;
  restart: RestartOperation | null;
  /** The last top-level start/restart span: the next restart links to it. */
  previous: SpanContext | null;
  /** The start span of the current run (kept after it ends): log records of the run point at it. */
  run: SpanContext | null;
}

/** W3C trace-context propagator (traceparent/tracestate) that fills the child's env. */
const TRACE_CONTEXT_PROPAGATOR = new W3CTraceContextPropagator();

interface SpanFailure {
  readonly errorType: string;
  readonly message?: string;
  readonly exit?: ExitInfo;
}

/**
 * Spans of every node of one cluster. See `docs/telemetry.md` for the table.
 *
 * - `start <node>`: transition to `starting` → `ready`. Error status and `error.type` (the error
 *   code, else `ERR_PROCESS_EXITED` / `ERR_STOPPED`) when the run exits, fails or is stopped first.
 * - `stop <node>`: transition to `stopping` → `stopped` or `exited`.
 * - `restart <node>`: `restarting` event → the node is `ready` again, with a span link to the
 *   previous `start`/`restart` span of the same node. The `start` (and, for a manual restart, the
 *   `stop`) inside it are its children.
 *
 * Attributes: `drover.node.name`, `drover.node.replica`, `process.pid` and `process.exit.code`
 * when known, `drover.node.run` on start spans, `drover.restart.attempt` and
 * `drover.restart.reason` on restart spans. Top-level spans are roots (events arrive in whatever
 * context the manager happens to run, which says nothing about who caused them), unless
 * `setParentContext()` named a parent: a test's span, say.
 *
 * @example
 * ```ts
 * const tracing = new ClusterTracing({ controller: cluster });
 * tracing.register();
 * // …
 * tracing.unregister(); // ends the spans still open
 * ```
 */
export class ClusterTracing {
  private readonly controller: ClusterController;
  private readonly clock: () => number;
  private tracerProvider: TracerProvider | undefined;
  private tracer: Tracer | null = null;
  private subscription: Subscription | null = null;
  private spawnEnvironmentRegistration: Subscription | null = null;
  private readonly nodes = new Map<string, NodeSpans>();
  private readonly commandAttributes = new Map<string, Attributes>();
  private readonly isClusterUpTraced: boolean;
  private clusterUp: { readonly span: Span; readonly unsettled: Set<string>; failure: SpanFailure | null } | null = null;
  /** Open `fault` spans by fault id. */
  private readonly faultSpans = new Map<string, Span>();
  /** Parent of the operations' top-level spans (setParentContext), or null: they are roots. */
  private parentContext: Context | null = null;

  constructor(options: ClusterTracingOptions) {
    this.controller = options.controller;
    this.tracerProvider = options.tracerProvider;
    this.clock = options.clock ?? Date.now;
    this.isClusterUpTraced = options.isClusterUpTraced ?? false;
    for (const node of options.spec?.nodes ?? []) {
      this.commandAttributes.set(node.name, getCommandAttributes(node));
    }
  }

  /**
   * Span context of the current run of a node: its `start` span, also after that span ended,
   * until the next run starts. Undefined when nothing ran yet or the span is not sampled/valid.
   */
  getRunSpanContext(name: string, replica: number): SpanContext | undefined {
    const context = this.nodes.get(getNodeKey(name, replica))?.run ?? null;
    return context !== null && isSpanContextValid(context) ? context : undefined;
  }

  /**
   * Makes `context`'s span the parent of every top-level span opened from now on: `start` (when
   * no restart or `cluster up` span is its parent), `stop`, `restart` and `fault` spans, so what
   * drover does while a test runs is part of the test's trace, and a node started then gets a
   * `TRACEPARENT` of that trace. `undefined` (or a context without a valid span) makes them roots
   * again. Spans already open keep their parent. One parent at a time: the latest call wins.
   * @example
   * const test = tracer.startSpan('test api restarts');
   * tracing.setParentContext(trace.setSpan(ROOT_CONTEXT, test));
   * await cluster.node('api').restart(); // its restart span is a child of `test`
   * tracing.setParentContext(undefined);
   */
  setParentContext(context: Context | undefined): void {
    const span = context === undefined ? undefined : trace.getSpan(context);
    this.parentContext = span !== undefined && isSpanContextValid(span.spanContext()) ? context! : null;
  }

  /** True between `register()` and `unregister()`. */
  get isRegistered(): boolean {
    return this.tracer !== null;
  }

  /**
   * Subscribes to the controller and registers as its spawn environment provider (each run's child
   * gets `TRACEPARENT`/`TRACESTATE` of its `start` span). Operations already in progress (a node
   * `starting`/`running` or `stopping`) get a span from the snapshot's timestamps. Calling it again
   * while registered does nothing.
   */
  register(): void {
    if (this.tracer !== null) {
      return;
    }
    this.tracer = (this.tracerProvider ?? trace.getTracerProvider()).getTracer(INSTRUMENTATION_SCOPE_NAME);
    try {
      if (this.isClusterUpTraced) {
        this.startClusterUp();
      }
      this.subscription = this.controller.subscribe(this.observer);
      this.spawnEnvironmentRegistration = this.controller.provideSpawnEnvironment(this.spawnEnvironment);
    } catch (error) {
      this.unregister();
      throw error;
    }
  }

  /** Unsubscribes, withdraws the spawn environment and ends every open span at `clock()`. Safe to call when not registered. */
  unregister(): void {
    if (this.tracer === null) {
      return;
    }
    this.tracer = null;
    this.spawnEnvironmentRegistration?.unsubscribe();
    this.spawnEnvironmentRegistration = null;
    this.subscription?.unsubscribe();
    this.subscription = null;
    const endMs = this.clock();
    const end = new Date(endMs);
    for (const spans of this.nodes.values()) {
      this.endStart(spans, endMs, null);
      spans.stop?.end(end);
      spans.restart?.span.end(end);
    }
    this.clusterUp?.span.end(end);
    this.clusterUp = null;
    for (const span of this.faultSpans.values()) span.end(end);
    this.faultSpans.clear();
    this.nodes.clear();
  }

  /** Moves to another tracer provider (re-registering if registered; open spans are ended). */
  setTracerProvider(tracerProvider: TracerProvider): void {
    const wasRegistered = this.tracer !== null;
    this.unregister();
    this.tracerProvider = tracerProvider;
    if (wasRegistered) {
      this.register();
    }
  }

  /** Gives each run's child the trace context of its `start` span (the controller's spawn extension point). */
  private readonly spawnEnvironment: SpawnEnvironmentProvider = {
    getSpawnEnvironment: (node, replica) => {
      try {
        return this.getSpawnEnvironment(node, replica);
      } catch (error) {
        // Tracing must never stop a spawn: without the variables the child simply starts a trace of its own.
        diag.error('drover ClusterTracing: failed to build the child trace context', error);
        return undefined;
      }
    },
  };

  private readonly observer: ClusterObserver = {
    wantsOutput: false,
    onSnapshot: (snapshot) => {
      try {
        this.handleSnapshot(snapshot);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its subscribe().
        diag.error('drover ClusterTracing: failed to handle the initial snapshot', error);
      }
    },
    onEvent: (event) => {
      try {
        this.handleEvent(event);
      } catch (error) {
        // The manager calls observers inline; a bug here must not break its event dispatch.
        diag.error('drover ClusterTracing: failed to handle a cluster event', error);
      }
    },
  };

  /** `TRACEPARENT` (and `TRACESTATE`) of the run's start span, for the child's environment. */
  private getSpawnEnvironment(name: string, replica: number): Record<string, string> | undefined {
    const start = this.nodes.get(getNodeKey(name, replica))?.start ?? null;
    if (start === null || !isSpanContextValid(start.spanContext())) {
      return undefined;
    }
    const carrier: Record<string, string> = {};
    TRACE_CONTEXT_PROPAGATOR.inject(trace.setSpan(ROOT_CONTEXT, start), carrier, {
      set: (target, key, value) => {
        target[key.toUpperCase()] = value;
      },
    });
    return carrier;
  }

  private startClusterUp(): void {
    let snapshot: ClusterSnapshot;
    try {
      snapshot = this.controller.snapshot();
    } catch (error) {
      diag.debug('drover ClusterTracing: controller.snapshot() threw; no cluster up span', error);
      return;
    }
    const unsettled = new Set(snapshot.nodes.filter((node) => !isSettledState(node.state)).map((node) => getNodeKey(node.name, node.replica)));
    if (unsettled.size === 0) {
      return;
    }
    const span = this.startSpan(SPAN_NAME_CLUSTER_UP, '', this.clock(), {
      [ATTR_CLUSTER_NAME]: snapshot.name,
      [ATTR_CLUSTER_NODE_COUNT]: snapshot.nodes.length,
    }, null, []);
    this.clusterUp = { span, unsettled, failure: null };
  }

  /** A node settled: the `cluster up` span ends once none is left, failed if any node failed. */
  private settleClusterUp(event: StateEvent): void {
    const clusterUp = this.clusterUp;
    if (clusterUp === null || !isSettledState(event.to)) {
      return;
    }
    if (event.to === 'failed' && clusterUp.failure === null) {
      clusterUp.failure = { errorType: event.error?.code ?? ERROR_TYPE_VALUE_OTHER, message: `node ${event.node} failed: ${event.error?.message ?? 'unknown error'}` };
    }
    clusterUp.unsettled.delete(getNodeKey(event.node, event.replica));
    if (clusterUp.unsettled.size > 0) {
      return;
    }
    this.clusterUp = null;
    if (clusterUp.failure !== null) {
      endSpanWithError(clusterUp.span, event.time, clusterUp.failure);
    } else {
      clusterUp.span.end(new Date(event.time));
    }
  }

  private handleSnapshot(snapshot: ClusterSnapshot): void {
    for (const node of snapshot.nodes) {
      const spans = this.getNodeSpans(node.name, node.replica);
      const attributes = getNodeAttributes(node.name, node.replica);
      if (node.pid !== null) {
        attributes[ATTR_PROCESS_PID] = node.pid;
      }
      if (isStartInProgress(node.state)) {
        spans.start = this.startSpan(SPAN_NAME_START, node.name, node.startedAt ?? node.stateSince, attributes, null, []);
        spans.attempts = { run: null, count: 0, held: null };
        spans.previous = spans.start.spanContext();
      } else if (node.state === 'stopping') {
        spans.stop = this.startSpan(SPAN_NAME_STOP, node.name, node.stateSince, attributes, null, []);
      }
    }
    // Faults already active get their span from the time they were injected.
    for (const fault of this.controller.faults()) this.startFaultSpan(fault, fault.since);
  }

  /** `fault <kind> <target>` from injection to heal, linked to each affected node's current run span. */
  private handleFaultEvent(event: FaultEvent): void {
    const { fault } = event;
    if (event.phase === 'injected') {
      this.startFaultSpan(fault, event.time);
      return;
    }
    const span = this.faultSpans.get(fault.id);
    this.faultSpans.delete(fault.id);
    span?.end(new Date(event.time));
  }

  private startFaultSpan(fault: FaultRecord, startMs: number): void {
    if (this.faultSpans.has(fault.id)) {
      return;
    }
    const links: Link[] = [];
    for (const label of fault.nodes) {
      const { name, replica } = parseReplicaLabel(label);
      const context = this.getRunSpanContext(name, replica);
      if (context !== undefined) links.push({ context, attributes: getNodeAttributes(name, replica) });
    }
    const name = `${fault.kind} ${describeFaultTarget(fault)}`;
    this.faultSpans.set(fault.id, this.startSpan(SPAN_NAME_FAULT, name, startMs, getFaultAttributes(fault), null, links));
  }

  private handleEvent(event: ClusterEvent): void {
    if (this.tracer === null) {
      return;
    }
    switch (event.type) {
      case 'state':
        this.handleStateEvent(event);
        return;
      case 'restarting':
        this.handleRestartingEvent(event);
        return;
      case 'readiness':
        this.handleReadinessEvent(event);
        return;
      case 'output':
        // Output lines are not operations.
        return;
      case 'fault':
        this.handleFaultEvent(event);
        return;
    }
  }

  /**
   * One readiness attempt → an event on the run's `start` span. The first
   * {@link READINESS_EVENT_LIMIT} attempts are added at once; later ones are held back and only
   * the last is added when the span ends, so a node polled for minutes keeps a small span.
   */
  private handleReadinessEvent(event: ReadinessEvent): void {
    const spans = this.nodes.get(getNodeKey(event.node, event.replica));
    if (spans === undefined || spans.start === null) {
      return;
    }
    const attempts = spans.attempts;
    attempts.run ??= event.run;
    if (attempts.run !== event.run) {
      return;
    }
    attempts.count = Math.max(attempts.count, event.attempt);
    if (event.attempt <= READINESS_EVENT_LIMIT) {
      addReadinessEvent(spans.start, event);
      attempts.held = null;
    } else {
      attempts.held = event;
    }
  }

  /** Ends the open `start` span (with `failure` as error, or OK when null), adding the held-back last attempt first. */
  private endStart(spans: NodeSpans, timeMs: number, failure: SpanFailure | null): void {
    const start = spans.start;
    if (start === null) {
      return;
    }
    const { count, held } = spans.attempts;
    if (held !== null) {
      addReadinessEvent(start, held);
    }
    if (count > 0) {
      start.setAttribute(ATTR_READINESS_ATTEMPTS, count);
    }
    spans.start = null;
    spans.attempts = { run: null, count: 0, held: null };
    if (failure === null) {
      start.end(new Date(timeMs));
    } else {
      endSpanWithError(start, timeMs, failure);
    }
  }

  private handleStateEvent(event: StateEvent): void {
    this.handleNodeStateEvent(event);
    this.settleClusterUp(event);
  }

  private handleNodeStateEvent(event: StateEvent): void {
    const spans = this.getNodeSpans(event.node, event.replica);
    if (event.pid !== null) {
      for (const span of [spans.start, spans.stop, spans.restart?.span]) {
        span?.setAttribute(ATTR_PROCESS_PID, event.pid);
      }
    }
    const { time } = event;
    switch (event.to) {
      case 'pending':
        return;

      case 'running':
        spans.start?.addEvent(EVENT_NAME_SPAWNED, event.pid === null ? {} : { [ATTR_PROCESS_PID]: event.pid }, new Date(time));
        return;

      case 'starting': {
        // A start still open here: a new run began before we saw the previous one end.
        this.endStart(spans, time, { errorType: ERROR_TYPE_VALUE_OTHER });
        const parent = spans.restart?.span ?? this.clusterUp?.span ?? null;
        const attributes = { ...getNodeAttributes(event.node, event.replica), ...this.commandAttributes.get(event.node) };
        attributes[ATTR_NODE_RUN] = event.run;
        if (event.pid !== null) {
          attributes[ATTR_PROCESS_PID] = event.pid;
        }
        const links = spans.restart === null ? getLinks(spans.previous) : [];
        spans.start = this.startSpan(SPAN_NAME_START, event.node, time, attributes, parent, links);
        spans.attempts = { run: event.run, count: 0, held: null };
        spans.run = spans.start.spanContext();
        if (spans.restart === null) {
          spans.previous = spans.start.spanContext();
        }
        return;
      }

      case 'ready':
        this.endStart(spans, time, null);
        spans.restart?.span.end(new Date(time));
        spans.restart = null;
        return;

      case 'stopping': {
        const stopped: SpanFailure = { errorType: ERROR_TYPE_VALUE_STOPPED };
        this.failStart(spans, time, stopped);
        const restart = spans.restart;
        if (restart !== null) {
          if (restart.stopsAllowed > 0) {
            restart.stopsAllowed -= 1;
            restart.ownsStop = true;
          } else {
            this.failRestart(spans, time, stopped);
          }
        }
        if (spans.stop === null) {
          const parent = spans.restart?.span ?? null;
          const attributes = getNodeAttributes(event.node, event.replica);
          if (event.pid !== null) {
            attributes[ATTR_PROCESS_PID] = event.pid;
          }
          spans.stop = this.startSpan(SPAN_NAME_STOP, event.node, time, attributes, parent, []);
        }
        return;
      }

      case 'stopped':
      case 'exited': {
        const stop = spans.stop;
        if (stop !== null) {
          setExitCode(stop, event.exit);
          setStopReport(stop, event.stop);
          stop.end(new Date(time));
          spans.stop = null;
        }
        const failure: SpanFailure =
          event.to === 'stopped'
            ? { errorType: event.error?.code ?? ERROR_TYPE_VALUE_STOPPED, message: event.error?.message, exit: event.exit }
            : getExitFailure(event);
        this.failStart(spans, time, failure);
        const restart = spans.restart;
        if (restart !== null) {
          if (restart.ownsStop) {
            // The stop half of a manual restart is done; the restart goes on to `ready`.
            restart.ownsStop = false;
          } else {
            this.failRestart(spans, time, failure);
          }
        }
        return;
      }

      case 'backoff': {
        // The run ended; a restart (if one is open) goes on through the backoff.
        const failure = getExitFailure(event);
        this.failStart(spans, time, failure);
        if (spans.stop !== null) {
          setExitCode(spans.stop, event.exit);
          spans.stop.end(new Date(time));
          spans.stop = null;
        }
        return;
      }

      case 'failed': {
        const failure: SpanFailure = {
          errorType: event.error?.code ?? ERROR_TYPE_VALUE_OTHER,
          message: event.error?.message,
          exit: event.exit,
        };
        this.failStart(spans, time, failure);
        if (spans.stop !== null) {
          endSpanWithError(spans.stop, time, failure);
          spans.stop = null;
        }
        this.failRestart(spans, time, failure);
        return;
      }
    }
  }

  private handleRestartingEvent(event: RestartingEvent): void {
    const spans = this.getNodeSpans(event.node, event.replica);
    // Restarting again before `ready`: the previous attempt did not make it.
    this.failRestart(spans, event.time, { errorType: ERROR_TYPE_VALUE_PROCESS_EXITED });
    const attributes = getNodeAttributes(event.node, event.replica);
    attributes[ATTR_RESTART_ATTEMPT] = event.attempt;
    attributes[ATTR_RESTART_REASON] = event.reason;
    const span = this.startSpan(SPAN_NAME_RESTART, event.node, event.time, attributes, null, getLinks(spans.previous));
    spans.restart = {
      span,
      // manual and watch restarts stop the running process first, inside the restart span.
      stopsAllowed: event.reason === RESTART_REASON_VALUE_MANUAL || event.reason === RESTART_REASON_VALUE_WATCH ? 1 : 0,
      ownsStop: false,
    };
    spans.previous = span.spanContext();
  }

  private failStart(spans: NodeSpans, timeMs: number, failure: SpanFailure): void {
    this.endStart(spans, timeMs, failure);
  }

  private failRestart(spans: NodeSpans, timeMs: number, failure: SpanFailure): void {
    if (spans.restart !== null) {
      endSpanWithError(spans.restart.span, timeMs, failure);
      spans.restart = null;
    }
  }

  private getNodeSpans(name: string, replica: number): NodeSpans {
    const key = getNodeKey(name, replica);
    let spans = this.nodes.get(key);
    if (spans === undefined) {
      spans = { start: null, attempts: { run: null, count: 0, held: null }, stop: null, restart: null, previous: null, run: null };
      this.nodes.set(key, spans);
    }
    return spans;
  }

  private startSpan(
    operation: string,
    node: string,
    startMs: number,
    attributes: Attributes,
    parent: Span | null,
    links: Link[],
  ): Span {
    if (this.tracer === null) {
      throw new Error('ClusterTracing is not registered');
    }
    const parentContext = parent === null ? (this.parentContext ?? ROOT_CONTEXT) : trace.setSpan(ROOT_CONTEXT, parent);
    // A Date, not a number: the SDK reads small numbers as performance.now() offsets.
    return this.tracer.startSpan(
      node === '' ? operation : `${operation} ${node}`,
      { startTime: new Date(startMs), attributes, links },
      parentContext,
    );
  }
}

function addReadinessEvent(span: Span, event: ReadinessEvent): void {
  const attributes: Attributes = {
    [ATTR_READINESS_ATTEMPT]: event.attempt,
    [ATTR_READINESS_CHECK_KIND]: event.kind,
    [ATTR_READINESS_OK]: event.ok,
  };
  if (event.message !== null) {
    attributes[ATTR_READINESS_MESSAGE] =
      event.message.length > READINESS_MESSAGE_MAX_LENGTH ? `${event.message.slice(0, READINESS_MESSAGE_MAX_LENGTH - 1)}…` : event.message;
  }
  span.addEvent(EVENT_NAME_READINESS_ATTEMPT, attributes, new Date(event.time));
}

function getLinks(previous: SpanContext | null): Link[] {
  return previous === null ? [] : [{ context: previous }];
}

/** Why a run that left by exiting (or into backoff) did not complete an operation. */
function getExitFailure(event: StateEvent): SpanFailure {
  return {
    errorType: event.error?.code ?? ERROR_TYPE_VALUE_PROCESS_EXITED,
    message: event.error?.message ?? (event.exit === undefined ? undefined : describeExit(event.exit)),
    exit: event.exit,
  };
}

/** How the stop went: the signal sent (none when the stop command sufficed), SIGKILL, the stop command's outcome. */
function setStopReport(span: Span, report: StopReport | undefined): void {
  if (report === undefined) return;
  if (report.signal !== null) span.setAttribute(ATTR_STOP_SIGNAL, report.signal);
  span.setAttribute(ATTR_STOP_FORCED_KILL, report.forcedKill);
  const command = report.command;
  if (command === undefined) return;
  span.setAttribute(ATTR_STOP_COMMAND_OUTCOME, command.outcome);
  span.setAttribute(ATTR_STOP_COMMAND_DURATION_MS, command.durationMs);
  if (command.exitCode !== null) span.setAttribute(ATTR_STOP_COMMAND_EXIT_CODE, command.exitCode);
}

function setExitCode(span: Span, exit: ExitInfo | undefined): void {
  if (exit !== undefined && exit.exitCode !== null) {
    span.setAttribute(ATTR_PROCESS_EXIT_CODE, exit.exitCode);
  }
}

function endSpanWithError(span: Span, timeMs: number, failure: SpanFailure): void {
  span.setAttribute(ATTR_ERROR_TYPE, failure.errorType);
  setExitCode(span, failure.exit);
  span.setStatus(
    failure.message === undefined
      ? { code: SpanStatusCode.ERROR }
      : { code: SpanStatusCode.ERROR, message: failure.message },
  );
  span.end(new Date(timeMs));
}
