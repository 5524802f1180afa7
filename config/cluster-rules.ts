/**
 * Cross-field rules of a config (separate named validators, each collecting
 * every problem with its path): duplicate port names (or two that become the same
 * `DROVER_PORT_*` variable), unknown dependencies, dependencies on a node with `replicas: 0`,
 * dependency cycles, and templates that name nothing. Walks over the dependency graph are
 * iterative: a chain of any length cannot exhaust the stack.
 */
import { getClosestMatch } from './closest-match.js';
import { describeValue, formatPath, type ConfigIssue } from './issues.js';
import type { ValidatedNode, ValidatedReady } from './schema.js';
import { walkDependencyGraph } from '../contract/dependency-graph.js';
import { getPortEnvName, getTemplateReferences } from '../contract/template.js';

type Path = readonly PropertyKey[];

/** What the rules read: the nodes, as far as they are valid. */
export interface RulesInput {
  /** Nodes by name, in declaration order; a field left out is absent or invalid. */
  readonly nodes: Readonly<Record<string, Partial<ValidatedNode>>>;
  /**
   * Whether a node's field passed validation. A rule that needs a field that did not is skipped
   * (its own issue says what is wrong), so one run reports every problem without wrong reasons.
   */
  readonly isValid: (node: string, key: keyof ValidatedNode) => boolean;
}

/** Every cross-field problem of a config, as far as its fields are valid. */
export function validateClusterRules(config: RulesInput): ConfigIssue[] {
  return [
    ...validatePortNames(config),
    ...validateDependencies(config),
    ...validateTemplates(config),
    ...validateExitChecks(config),
    ...validateHttpPaths(config),
    ...validateMinUptime(config),
  ];
}

/** minUptime only decides when a node without a ready check is ready; beside one it would do nothing. */
function validateMinUptime(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, node] of Object.entries(config.nodes)) {
    if (node.minUptime !== undefined && node.ready !== undefined) {
      issues.push(issue(['nodes', name, 'minUptime'], 'minUptime only on a node without a ready check', node.minUptime, 'its ready check decides when it is ready; remove one of them'));
    }
  }
  return issues;
}

/** `http: /health` is requested on the node's first port, so the node must declare one. */
function validateHttpPaths(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, node] of Object.entries(config.nodes)) {
    if (!config.isValid(name, 'ports') || (node.ports ?? []).length > 0) continue;
    const visit = (check: ValidatedReady, path: Path): void => {
      if (check.http !== undefined && 'path' in check.http) {
        issues.push(
          issue([...path, 'http'], 'a node with ports for an http path (it is requested on the node\'s first port)', check.http.path, `declare the port (ports: [http]) or give a full URL`),
        );
      }
      for (const kind of ['all', 'any'] as const) check[kind]?.forEach((nested, index) => visit(nested, [...path, kind, index]));
    };
    if (node.ready) visit(node.ready, ['nodes', name, 'ready']);
    if (node.liveness) visit(node.liveness as ValidatedReady, ['nodes', name, 'liveness']);
  }
  return issues;
}

/** `exit` ends the process it waits for, so it cannot be one of several checks in all/any. */
function validateExitChecks(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (ready: ValidatedReady, path: Path, nested: boolean): void => {
    if (nested && ready.exit !== undefined) {
      issues.push({ path: formatPath([...path, 'exit']), message: 'expected exit only as the whole ready check (for jobs), not inside all/any' });
    }
    for (const kind of ['all', 'any'] as const) ready[kind]?.forEach((check, index) => visit(check, [...path, kind, index], true));
  };
  for (const [name, node] of Object.entries(config.nodes)) if (node.ready) visit(node.ready, ['nodes', name, 'ready'], false);
  return issues;
}

function issue(path: Path, expected: string, received: unknown, hint?: string): ConfigIssue {
  return { path: formatPath(path), message: `expected ${expected}, got ${describeValue(received)}${hint === undefined ? '' : `; ${hint}`}` };
}

function didYouMean(value: string, candidates: readonly string[]): string | undefined {
  const match = getClosestMatch(value, candidates);
  if (match !== undefined) return `did you mean "${match}"?`;
  return candidates.length === 0 ? undefined : `known: ${candidates.join(', ')}`;
}

function validatePortNames(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, node] of Object.entries(config.nodes)) {
    const seen = new Map<string, number>();
    /** First port (index) per environment variable: `a-b` and `a_b` both become DROVER_PORT_A_B. */
    const variables = new Map<string, number>();
    const ports = node.ports ?? [];
    ports.forEach((port, index) => {
      const first = seen.get(port);
      if (first !== undefined) {
        issues.push(issue(['nodes', name, 'ports', index], 'a unique port name', port, `already declared at nodes.${name}.ports.${first}`));
        return;
      }
      seen.set(port, index);
      const variable = getPortEnvName(port);
      const other = variables.get(variable);
      if (other === undefined) {
        variables.set(variable, index);
      } else {
        issues.push(
          issue(
            ['nodes', name, 'ports', index],
            'a port name with its own DROVER_PORT_* variable',
            port,
            `"${port}" and "${ports[other]}" (nodes.${name}.ports.${other}) both become ${variable}`,
          ),
        );
      }
    });
  }
  return issues;
}

/** `dependsOn` as [key in the config (name or index), dependency name] pairs. */
function getDependencyEntries(node: Partial<ValidatedNode>): [PropertyKey, string][] {
  const { dependsOn } = node;
  if (dependsOn === undefined) return [];
  if (Array.isArray(dependsOn)) return dependsOn.map((dep, index) => [index, dep]);
  return Object.keys(dependsOn).map((dep) => [dep, dep]);
}

function validateDependencies(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = Object.keys(config.nodes);
  const edges = new Map<string, string[]>();
  for (const [name, node] of Object.entries(config.nodes)) {
    const known: string[] = [];
    for (const [key, dep] of getDependencyEntries(node)) {
      if (!Object.hasOwn(config.nodes, dep)) {
        issues.push(issue(['nodes', name, 'dependsOn', key], 'the name of another node', dep, didYouMean(dep, names.filter((n) => n !== name))));
      } else {
        known.push(dep);
        // A dependency that never runs can never be met. Allowed only when the dependent does not
        // run either: both can be scaled up later (dependency first: `drover scale` checks it).
        if (config.nodes[dep]!.replicas === 0 && node.replicas !== 0 && config.isValid(name, 'replicas')) {
          issues.push(
            issue(['nodes', name, 'dependsOn', key], 'a node with at least one replica', dep, `node ${dep} has replicas: 0, so the dependency could never be met; give ${dep} replicas: 1 or more, remove it from nodes.${name}.dependsOn, or give ${name} replicas: 0 too`),
          );
        }
      }
    }
    edges.set(name, known);
  }
  // Each cycle is reported once, at the edge that closes it.
  for (const { from, to, text } of walkDependencyGraph(names, (name) => edges.get(name) ?? []).cycles) {
    const key = getDependencyEntries(config.nodes[from]!).find(([, d]) => d === to)![0];
    issues.push({ path: formatPath(['nodes', from, 'dependsOn', key]), message: `expected no dependency cycle, got ${text}` });
  }
  return issues;
}

const TEMPLATE_NAMES = '{{name}}, {{replica}}, {{ports.<port>}} or {{nodes.<node>.ports.<port>}}';
/** Keys whose strings are regular expressions, not templated text. */
const REGEX_KEYS = new Set(['pattern', 'body']);

function validateTemplates(config: RulesInput): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, node] of Object.entries(config.nodes)) {
    const own = node.ports ?? [];
    const ownPortsKnown = config.isValid(name, 'ports');
    const check = (text: string, path: Path): void => {
      for (const reference of getTemplateReferences(text)) {
        switch (reference.kind) {
          case 'name':
          case 'replica':
            break;
          case 'port':
            if (ownPortsKnown && !own.includes(reference.port)) {
              const hint = own.length === 0 ? `node ${name} declares no ports (add ports: [${reference.port}])` : didYouMean(reference.port, own);
              issues.push(issue(path, `a port of node ${name} in {{ports.<port>}}`, `{{ports.${reference.port}}}`, hint));
            }
            break;
          case 'peer-port': {
            const peer = config.nodes[reference.node];
            if (peer === undefined || !Object.hasOwn(config.nodes, reference.node)) {
              issues.push(issue(path, 'a node name in {{nodes.<node>.ports.<port>}}', `{{nodes.${reference.node}.ports.${reference.port}}}`, didYouMean(reference.node, Object.keys(config.nodes))));
            } else if (!config.isValid(reference.node, 'ports')) {
              // Its ports are invalid: whether the port is one of them is unknown.
            } else if (!(peer.ports ?? []).includes(reference.port)) {
              const peerPorts = peer.ports ?? [];
              const hint = peerPorts.length === 0 ? `node ${reference.node} declares no ports` : didYouMean(reference.port, peerPorts);
              issues.push(issue(path, `a port of node ${reference.node}`, `{{nodes.${reference.node}.ports.${reference.port}}}`, hint));
            } else if (peer.replicas === 0) {
              issues.push(issue(path, 'a node with at least one replica', `{{nodes.${reference.node}.ports.${reference.port}}}`, `node ${reference.node} has replicas: 0`));
            }
            break;
          }
          case 'unknown':
            issues.push(issue(path, `a known template: ${TEMPLATE_NAMES}`, `{{${reference.text}}}`));
            break;
        }
      }
    };
    walkStrings(node.command, ['nodes', name, 'command'], check);
    walkStrings(node.env, ['nodes', name, 'env'], check);
    walkStrings(node.cwd, ['nodes', name, 'cwd'], check);
    walkStrings(node.ready, ['nodes', name, 'ready'], check);
    walkStrings(node.liveness, ['nodes', name, 'liveness'], check);
    walkStrings(node.stop?.command, ['nodes', name, 'stop', 'command'], check);
  }
  return issues;
}

function walkStrings(value: unknown, path: Path, visit: (text: string, path: Path) => void): void {
  if (typeof value === 'string') {
    visit(value, path);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => walkStrings(item, [...path, index], visit));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) if (!REGEX_KEYS.has(key)) walkStrings(item, [...path, key], visit);
  }
}
