/**
 * The bundled Grafana dashboard (`examples/grafana/drover.json`), generated here so its queries
 * follow the metric names in `semconv.ts`. Deterministic: no timestamps or ids that change between
 * runs; `test/telemetry/grafana-dashboard.test.ts` fails when the committed file is stale.
 *
 * Queries use the Prometheus names the OpenTelemetry Prometheus exporter produces: dots become
 * underscores, counters get `_total`, histograms `_bucket`/`_sum`/`_count` (no unit suffix).
 */

import {
  ATTR_CPU_MODE,
  ATTR_DISK_IO_DIRECTION,
  ATTR_FAULT_KIND,
  ATTR_NODE_NAME,
  ATTR_NODE_STATE,
  ATTR_PROCESS_CONTEXT_SWITCH_TYPE,
  ATTR_PROCESS_PAGING_FAULT_TYPE,
  ATTR_RESTART_REASON,
  ATTR_STDIO_STREAM,
  METRIC_CLUSTER_NODES,
  METRIC_FAULTS_ACTIVE,
  METRIC_NODE_START_DURATION,
  METRIC_NODE_STATE,
  METRIC_OUTPUT_BUFFER_USAGE,
  METRIC_OUTPUT_DROPPED,
  METRIC_OUTPUT_DROPPED_LINES,
  METRIC_PROC_SAMPLE_DURATION,
  METRIC_PROCESS_CONTEXT_SWITCHES,
  METRIC_PROCESS_CPU_TIME,
  METRIC_PROCESS_DISK_IO,
  METRIC_PROCESS_MEMORY_USAGE,
  METRIC_PROCESS_MEMORY_VIRTUAL,
  METRIC_PROCESS_PAGING_FAULTS,
  METRIC_PROCESS_RESTARTS,
  METRIC_PROCESS_THREAD_COUNT,
  METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
  METRIC_PROCESS_UPTIME,
  METRIC_RESTART_DELAY,
  METRIC_STDIO_IO,
  METRIC_STDIO_OPERATIONS,
} from './semconv.js';
import { NODE_STATES, type NodeState } from '../contract/types.js';

/** A Prometheus name for an OpenTelemetry metric or attribute name. */
export function getPrometheusName(name: string, suffix: '' | '_total' | '_bucket' = ''): string {
  return `${name.replace(/[^a-zA-Z0-9_]/g, '_')}${suffix}`;
}

const NODE = getPrometheusName(ATTR_NODE_NAME);
const NODE_FILTER = `${NODE}=~"$node"`;
const RATE_WINDOW = '$__rate_interval';

interface Target {
  readonly expr: string;
  readonly legendFormat: string;
  readonly format?: 'heatmap' | 'time_series';
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly type: 'timeseries' | 'stat' | 'state-timeline' | 'heatmap';
  readonly unit: string;
  readonly targets: readonly Target[];
  readonly width?: number;
  readonly options?: Record<string, unknown>;
  readonly fieldConfig?: Record<string, unknown>;
}

const STATE_COLORS: Readonly<Record<NodeState, string>> = {
  pending: 'text',
  starting: 'blue',
  running: 'light-blue',
  ready: 'green',
  paused: 'dark-blue',
  stopping: 'purple',
  stopped: 'text',
  exited: 'yellow',
  backoff: 'orange',
  failed: 'red',
};

/** Each node's current state as its index in NODE_STATES (one series per node). */
function getStateCodeExpr(): string {
  const metric = getPrometheusName(METRIC_NODE_STATE);
  const state = getPrometheusName(ATTR_NODE_STATE);
  const terms = NODE_STATES.map((value, index) => `(${metric}{${NODE_FILTER},${state}="${value}"} == 1) * 0 + ${index}`);
  return `max without (${state}) (${terms.join(' or ')})`;
}

function counterRate(metric: string, by: string[]): string {
  return `sum by (${[NODE, ...by].join(', ')}) (rate(${getPrometheusName(metric, '_total')}{${NODE_FILTER}}[${RATE_WINDOW}]))`;
}

function gauge(metric: string, by: string[] = []): string {
  return `sum by (${[NODE, ...by].join(', ')}) (${getPrometheusName(metric)}{${NODE_FILTER}})`;
}

function legend(...labels: string[]): string {
  return labels.map((label) => `{{${label}}}`).join(' ');
}

const PANELS: readonly (PanelSpec | string)[] = [
  'Cluster',
  {
    title: 'Nodes by state',
    description: 'How many node replicas are in each state now (drover.node.state).',
    type: 'stat',
    unit: 'short',
    width: 8,
    targets: [{ expr: `sum by (${getPrometheusName(ATTR_NODE_STATE)}) (${getPrometheusName(METRIC_NODE_STATE)}{${NODE_FILTER}})`, legendFormat: legend(getPrometheusName(ATTR_NODE_STATE)) }],
    options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'background', graphMode: 'none', textMode: 'value_and_name' },
  },
  {
    title: 'State timeline',
    description: 'Each node’s lifecycle state over time (drover.node.state).',
    type: 'state-timeline',
    unit: 'short',
    width: 16,
    targets: [{ expr: getStateCodeExpr(), legendFormat: legend(NODE) }],
    fieldConfig: {
      mappings: [
        {
          type: 'value',
          options: Object.fromEntries(NODE_STATES.map((value, index) => [String(index), { text: value, color: STATE_COLORS[value], index }])),
        },
      ],
    },
  },
  {
    title: 'Restarts',
    description: 'Restarts per node and reason (drover.process.restarts).',
    type: 'timeseries',
    unit: 'short',
    targets: [
      {
        expr: `sum by (${NODE}, ${getPrometheusName(ATTR_RESTART_REASON)}) (increase(${getPrometheusName(METRIC_PROCESS_RESTARTS, '_total')}{${NODE_FILTER}}[${RATE_WINDOW}]))`,
        legendFormat: legend(NODE, getPrometheusName(ATTR_RESTART_REASON)),
      },
    ],
  },
  {
    title: 'Backoff delay',
    description: 'Delay chosen before each node’s latest restart (drover.restart.delay).',
    type: 'timeseries',
    unit: 's',
    targets: [{ expr: `max by (${NODE}) (${getPrometheusName(METRIC_RESTART_DELAY)}{${NODE_FILTER}})`, legendFormat: legend(NODE) }],
  },
  {
    title: 'Start duration',
    description: 'Time from spawn to ready, per start (drover.node.start.duration).',
    type: 'heatmap',
    unit: 's',
    targets: [
      {
        expr: `sum by (le) (increase(${getPrometheusName(METRIC_NODE_START_DURATION, '_bucket')}{${NODE_FILTER}}[${RATE_WINDOW}]))`,
        legendFormat: '{{le}}',
        format: 'heatmap',
      },
    ],
    options: { calculate: false, yAxis: { unit: 's' }, cellGap: 1 },
  },
  'Processes (whole process tree of each node, from /proc)',
  {
    title: 'CPU',
    description: 'CPU seconds per second by mode (process.cpu.time).',
    type: 'timeseries',
    unit: 'percentunit',
    targets: [{ expr: counterRate(METRIC_PROCESS_CPU_TIME, [getPrometheusName(ATTR_CPU_MODE)]), legendFormat: legend(NODE, getPrometheusName(ATTR_CPU_MODE)) }],
  },
  {
    title: 'Resident memory',
    description: 'RSS of the live process tree (process.memory.usage).',
    type: 'timeseries',
    unit: 'bytes',
    targets: [{ expr: gauge(METRIC_PROCESS_MEMORY_USAGE), legendFormat: legend(NODE) }],
  },
  {
    title: 'Virtual memory',
    description: 'Virtual memory of the live process tree (process.memory.virtual).',
    type: 'timeseries',
    unit: 'bytes',
    targets: [{ expr: gauge(METRIC_PROCESS_MEMORY_VIRTUAL), legendFormat: legend(NODE) }],
  },
  {
    title: 'Threads',
    description: 'Threads of the live process tree (process.thread.count).',
    type: 'timeseries',
    unit: 'short',
    targets: [{ expr: gauge(METRIC_PROCESS_THREAD_COUNT), legendFormat: legend(NODE) }],
  },
  {
    title: 'Open file descriptors',
    description: 'Open fds of the live process tree (process.unix.file_descriptor.count).',
    type: 'timeseries',
    unit: 'short',
    targets: [{ expr: gauge(METRIC_PROCESS_UNIX_FILE_DESCRIPTOR_COUNT), legendFormat: legend(NODE) }],
  },
  {
    title: 'Context switches',
    description: 'Context switches per second by type (process.context_switches).',
    type: 'timeseries',
    unit: 'ops',
    targets: [{ expr: counterRate(METRIC_PROCESS_CONTEXT_SWITCHES, [getPrometheusName(ATTR_PROCESS_CONTEXT_SWITCH_TYPE)]), legendFormat: legend(NODE, getPrometheusName(ATTR_PROCESS_CONTEXT_SWITCH_TYPE)) }],
  },
  {
    title: 'Page faults',
    description: 'Page faults per second by type (process.paging.faults).',
    type: 'timeseries',
    unit: 'ops',
    targets: [{ expr: counterRate(METRIC_PROCESS_PAGING_FAULTS, [getPrometheusName(ATTR_PROCESS_PAGING_FAULT_TYPE)]), legendFormat: legend(NODE, getPrometheusName(ATTR_PROCESS_PAGING_FAULT_TYPE)) }],
  },
  {
    title: 'Disk I/O',
    description: 'Storage bytes per second by direction (process.disk.io).',
    type: 'timeseries',
    unit: 'Bps',
    targets: [{ expr: counterRate(METRIC_PROCESS_DISK_IO, [getPrometheusName(ATTR_DISK_IO_DIRECTION)]), legendFormat: legend(NODE, getPrometheusName(ATTR_DISK_IO_DIRECTION)) }],
  },
  {
    title: 'Uptime',
    description: 'Seconds since the current run was spawned (process.uptime).',
    type: 'timeseries',
    unit: 's',
    targets: [{ expr: `max by (${NODE}) (${getPrometheusName(METRIC_PROCESS_UPTIME)}{${NODE_FILTER}})`, legendFormat: legend(NODE) }],
  },
  'Output',
  {
    title: 'stdio bytes',
    description: 'Bytes per second through each stdio pipe (drover.stdio.io).',
    type: 'timeseries',
    unit: 'Bps',
    targets: [{ expr: counterRate(METRIC_STDIO_IO, [getPrometheusName(ATTR_STDIO_STREAM)]), legendFormat: legend(NODE, getPrometheusName(ATTR_STDIO_STREAM)) }],
  },
  {
    title: 'stdio operations',
    description: 'Reads/writes per second on each stdio pipe (drover.stdio.operations).',
    type: 'timeseries',
    unit: 'ops',
    targets: [{ expr: counterRate(METRIC_STDIO_OPERATIONS, [getPrometheusName(ATTR_STDIO_STREAM)]), legendFormat: legend(NODE, getPrometheusName(ATTR_STDIO_STREAM)) }],
  },
  {
    title: 'Dropped output',
    description: 'Bytes and lines the ring buffer dropped per second (drover.output.dropped, drover.output.dropped_lines).',
    type: 'timeseries',
    unit: 'short',
    targets: [
      { expr: counterRate(METRIC_OUTPUT_DROPPED, []), legendFormat: `${legend(NODE)} bytes` },
      { expr: counterRate(METRIC_OUTPUT_DROPPED_LINES, []), legendFormat: `${legend(NODE)} lines` },
    ],
  },
  {
    title: 'Output buffer',
    description: 'Bytes held by each node’s ring buffer (drover.output.buffer.usage).',
    type: 'timeseries',
    unit: 'bytes',
    targets: [{ expr: gauge(METRIC_OUTPUT_BUFFER_USAGE), legendFormat: legend(NODE) }],
  },
  'drover',
  {
    title: 'Supervised nodes',
    description: 'Node replicas the manager supervises (drover.cluster.nodes).',
    type: 'stat',
    unit: 'short',
    width: 8,
    targets: [{ expr: `sum(${getPrometheusName(METRIC_CLUSTER_NODES)})`, legendFormat: 'nodes' }],
    options: { reduceOptions: { calcs: ['lastNotNull'] }, graphMode: 'area' },
  },
  {
    title: '/proc sample duration',
    description: 'p50 and p99 of one /proc sample of every node (drover.telemetry.sample.duration): drover’s own cost.',
    type: 'timeseries',
    unit: 's',
    width: 16,
    targets: [0.5, 0.99].map((quantile) => ({
      expr: `histogram_quantile(${quantile}, sum by (le) (rate(${getPrometheusName(METRIC_PROC_SAMPLE_DURATION, '_bucket')}[${RATE_WINDOW}])))`,
      legendFormat: `p${quantile * 100}`,
    })),
  },
];

const GRID_WIDTH = 24;
const PANEL_HEIGHT = 8;
const DEFAULT_PANEL_WIDTH = 12;

/** The row of drover's own health: its panels are not about nodes, so fault annotations skip them. */
const OWN_HEALTH_ROW = 'drover';

/**
 * Injected faults as annotations over the node panels: a region per fault kind and node while
 * `drover.faults.active` is above 0.
 */
function createFaultAnnotation(nodePanelIds: readonly number[]): Record<string, unknown> {
  const kind = getPrometheusName(ATTR_FAULT_KIND);
  return {
    name: 'Faults',
    enable: true,
    hide: false,
    iconColor: 'red',
    datasource: { type: 'prometheus', uid: '${datasource}' },
    expr: `sum by (${kind}, ${NODE}) (${getPrometheusName(METRIC_FAULTS_ACTIVE)}{${NODE_FILTER}}) > 0`,
    step: '10s',
    titleFormat: `fault {{${kind}}}`,
    textFormat: `{{${kind}}} on {{${NODE}}}`,
    tagKeys: `${kind},${NODE}`,
    useValueForTime: false,
    filter: { exclude: false, ids: [...nodePanelIds] },
  };
}

/** The dashboard as a JSON-ready object (Grafana schema 39, Prometheus data source variable). */
export function createGrafanaDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  const nodePanelIds: number[] = [];
  let row = '';
  let id = 1;
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  for (const spec of PANELS) {
    if (typeof spec === 'string') {
      row = spec;
      y += rowHeight;
      x = 0;
      rowHeight = 0;
      panels.push({ id: id++, type: 'row', title: spec, collapsed: false, gridPos: { h: 1, w: GRID_WIDTH, x: 0, y }, panels: [] });
      y += 1;
      continue;
    }
    const width = spec.width ?? DEFAULT_PANEL_WIDTH;
    if (x + width > GRID_WIDTH) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    if (row !== OWN_HEALTH_ROW) nodePanelIds.push(id);
    panels.push({
      id: id++,
      type: spec.type,
      title: spec.title,
      description: spec.description,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: PANEL_HEIGHT, w: width, x, y },
      fieldConfig: { defaults: { unit: spec.unit, ...spec.fieldConfig }, overrides: [] },
      options: spec.options ?? { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
      targets: spec.targets.map((target, index) => ({
        refId: String.fromCharCode(65 + index),
        datasource: { type: 'prometheus', uid: '${datasource}' },
        expr: target.expr,
        legendFormat: target.legendFormat,
        ...(target.format === undefined ? {} : { format: target.format }),
      })),
    });
    x += width;
    rowHeight = Math.max(rowHeight, PANEL_HEIGHT);
  }
  return {
    title: 'drover',
    uid: 'drover',
    description: 'A drover cluster: node states, restarts, start times, process-tree resources, stdio and drover’s own health. Generated by examples/grafana/generate.mjs from telemetry/grafana-dashboard.ts.',
    tags: ['drover', 'opentelemetry'],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: '10s',
    time: { from: 'now-30m', to: 'now' },
    timezone: 'browser',
    graphTooltip: 1,
    annotations: { list: [createFaultAnnotation(nodePanelIds)] },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        {
          name: 'node',
          label: 'Node',
          type: 'query',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: `label_values(${getPrometheusName(METRIC_NODE_STATE)}, ${NODE})`, refId: 'node' },
          definition: `label_values(${getPrometheusName(METRIC_NODE_STATE)}, ${NODE})`,
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: {},
          refresh: 2,
          sort: 1,
          hide: 0,
        },
      ],
    },
    panels,
  };
}

/** Every PromQL query of the dashboard with its panel title (for tests and tooling). */
export function getDashboardQueries(dashboard: Record<string, unknown>): { panel: string; expr: string }[] {
  const panels = dashboard['panels'] as { title: string; targets?: { expr: string }[] }[];
  const annotations = (dashboard['annotations'] as { list: { name: string; expr?: string }[] }).list;
  return [
    ...panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr }))),
    ...annotations.flatMap((annotation) => (annotation.expr === undefined ? [] : [{ panel: `annotation ${annotation.name}`, expr: annotation.expr }])),
  ];
}
