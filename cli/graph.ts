/**
 * `drover graph`: the `dependsOn` graph of a config, without a running cluster, as Mermaid (a
 * `flowchart` to paste into Markdown), JSON or Graphviz DOT. Edges point in start order: from the
 * dependency to the node that waits for it, labelled with the condition it waits for.
 */
import { loadConfig } from '../config/index.js';
import type { ClusterSpec, DependencyCondition } from '../contract/types.js';
import { EXIT_OK } from './exit-codes.js';

/** Output formats of `drover graph`. */
export const GRAPH_FORMATS = ['mermaid', 'json', 'dot'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** One node of the graph. */
export interface GraphNode {
  readonly name: string;
  /** Replicas the node starts with (0: declared, not started). */
  readonly replicas: number;
}

/** `dependency → dependent`: `to` starts once `from` has reached `condition`. */
export interface GraphEdge {
  /** The dependency. */
  readonly from: string;
  /** The node that names it in `dependsOn`. */
  readonly to: string;
  readonly condition: DependencyCondition;
}

/** `drover graph --format json`. */
export interface DependencyGraph {
  /** In declaration order. */
  readonly nodes: readonly GraphNode[];
  /** Ordered by the dependent's declaration order, then the dependency's. */
  readonly edges: readonly GraphEdge[];
}

/** The dependency graph of a normalized cluster; the order depends only on the config. */
export function getDependencyGraph(spec: ClusterSpec): DependencyGraph {
  const position = new Map(spec.nodes.map((node, index) => [node.name, index]));
  const nodes = spec.nodes.map((node) => ({ name: node.name, replicas: node.replicas }));
  const edges: GraphEdge[] = [];
  for (const node of spec.nodes) {
    const deps = Object.entries(node.dependsOn).sort(([a], [b]) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
    for (const [dep, condition] of deps) edges.push({ from: dep, to: node.name, condition });
  }
  return { nodes, edges };
}

/** A label for Mermaid's `["…"]` and DOT's `"…"`: `"` and `\` escaped (node names never hold them; kept safe anyway). */
function quote(text: string, style: 'mermaid' | 'dot'): string {
  return style === 'mermaid' ? text.replace(/"/g, '#quot;') : text.replace(/[\\"]/g, (c) => `\\${c}`);
}

function describeNode(node: GraphNode): string {
  return node.replicas === 1 ? node.name : `${node.name} ×${node.replicas}`;
}

/**
 * Mermaid `flowchart TD`. Node ids are `n0`, `n1` … (in declaration order): names may hold `.`
 * and `-`, which Mermaid ids may not.
 */
export function formatMermaid(graph: DependencyGraph): string {
  const ids = new Map(graph.nodes.map((node, index) => [node.name, `n${index}`]));
  const lines = ['flowchart TD'];
  for (const node of graph.nodes) lines.push(`  ${ids.get(node.name)}["${quote(describeNode(node), 'mermaid')}"]`);
  for (const edge of graph.edges) lines.push(`  ${ids.get(edge.from)} -->|${edge.condition}| ${ids.get(edge.to)}`);
  return `${lines.join('\n')}\n`;
}

/** Graphviz DOT (`drover graph --format dot | dot -Tsvg`). */
export function formatDot(graph: DependencyGraph, name: string): string {
  const lines = [`digraph "${quote(name, 'dot')}" {`, '  rankdir=TB;'];
  for (const node of graph.nodes) lines.push(`  "${quote(node.name, 'dot')}" [label="${quote(describeNode(node), 'dot')}"];`);
  for (const edge of graph.edges) lines.push(`  "${quote(edge.from, 'dot')}" -> "${quote(edge.to, 'dot')}" [label="${edge.condition}"];`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * Prints the graph of the config in `files` (merged, with `profiles`). Needs no running cluster.
 * @throws {DroverError} ERR_CONFIG_READ, ERR_CONFIG_INVALID as `drover validate`.
 */
export async function runGraph(options: { files: readonly string[]; profiles: readonly string[] | undefined; format: GraphFormat }): Promise<number> {
  const { spec } = await loadConfig(options.files, options.profiles === undefined ? {} : { profiles: options.profiles });
  const graph = getDependencyGraph(spec);
  const text = options.format === 'json' ? `${JSON.stringify(graph, null, 2)}\n` : options.format === 'dot' ? formatDot(graph, spec.name) : formatMermaid(graph);
  process.stdout.write(text);
  return EXIT_OK;
}
