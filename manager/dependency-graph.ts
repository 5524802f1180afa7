/**
 * The `dependsOn` graph of a cluster: start order (dependencies first) and, for the ordered stop,
 * who depends on whom. Configs are checked by config/cluster-rules.ts; a spec built in code is
 * checked here too.
 */
import { DroverError } from './errors.js';
import type { NodeSpec } from './types.js';

/**
 * Node names with every node after its dependencies; otherwise declaration order is kept.
 * @throws {DroverError} ERR_CONFIG_INVALID on an unknown dependency or a cycle.
 */
export function getStartOrder(nodes: readonly Pick<NodeSpec, 'name' | 'dependsOn'>[]): string[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: readonly string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new DroverError('ERR_CONFIG_INVALID', `dependency cycle: ${[...path.slice(path.indexOf(name)), name].join(' → ')}`, { node: name });
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(byName.get(name)!.dependsOn)) {
      if (!byName.has(dep)) throw new DroverError('ERR_CONFIG_INVALID', `node ${name} depends on unknown node ${JSON.stringify(dep)}`, { node: name });
      visit(dep, [...path, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const node of nodes) visit(node.name, []);
  return order;
}

/** For each node name, the names of the nodes that depend on it. */
export function getDependents(nodes: readonly Pick<NodeSpec, 'name' | 'dependsOn'>[]): Map<string, string[]> {
  const dependents = new Map<string, string[]>(nodes.map((node) => [node.name, []]));
  for (const node of nodes) for (const dep of Object.keys(node.dependsOn)) dependents.get(dep)?.push(node.name);
  return dependents;
}
