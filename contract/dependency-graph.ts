/**
 * The `dependsOn` graph of a cluster: start order (dependencies first) and, for the ordered stop,
 * who depends on whom. Configs are checked by config/cluster-rules.ts (with the same walk); a spec
 * built in code is checked here too. Every walk is iterative, so a dependency chain of any length
 * cannot exhaust the stack.
 */
import { DroverError } from './errors.js';
import type { NodeSpec } from './types.js';

/** An edge that closes a cycle, found by {@link walkDependencyGraph}. */
export interface DependencyCycle {
  /** The node whose dependency closes the cycle. */
  readonly from: string;
  /** The dependency it names, already on the walk's path. */
  readonly to: string;
  /**
   * The cycle as it reads, `to → … → from → to`; a cycle of more than 8 entries shows its first
   * and last three around `… (N more)`, so the text stays short however long the cycle.
   */
  readonly text: string;
}

/** Entries of a cycle shown in full; longer ones are shortened. */
const MAX_CYCLE_ENTRIES = 8;

/**
 * Depth-first walk over `names` in order, following `getDependencies` (which must return names
 * of `names` only). Returns every node after all nodes it depends on (post-order; declaration
 * order otherwise kept) and every edge that closes a cycle, each reported once.
 */
export function walkDependencyGraph(
  names: readonly string[],
  getDependencies: (name: string) => readonly string[],
): { order: string[]; cycles: DependencyCycle[] } {
  const order: string[] = [];
  const cycles: DependencyCycle[] = [];
  const done = new Set<string>();
  /** Position on the current path of each node being visited. */
  const onPath = new Map<string, number>();
  const path: { readonly name: string; readonly dependencies: readonly string[]; next: number }[] = [];
  const enter = (name: string): void => {
    onPath.set(name, path.length);
    path.push({ name, dependencies: getDependencies(name), next: 0 });
  };
  const describeCycle = (start: number, to: string): string => {
    const length = path.length - start + 1;
    const at = (i: number): string => (start + i < path.length ? path[start + i]!.name : to);
    if (length <= MAX_CYCLE_ENTRIES) return Array.from({ length }, (_, i) => at(i)).join(' → ');
    return [at(0), at(1), at(2), `… (${length - 6} more)`, at(length - 3), at(length - 2), at(length - 1)].join(' → ');
  };
  for (const root of names) {
    if (done.has(root) || onPath.has(root)) continue;
    enter(root);
    while (path.length > 0) {
      const top = path.at(-1)!;
      if (top.next < top.dependencies.length) {
        const dependency = top.dependencies[top.next++]!;
        const start = onPath.get(dependency);
        if (start !== undefined) cycles.push({ from: top.name, to: dependency, text: describeCycle(start, dependency) });
        else if (!done.has(dependency)) enter(dependency);
        continue;
      }
      path.pop();
      onPath.delete(top.name);
      done.add(top.name);
      order.push(top.name);
    }
  }
  return { order, cycles };
}

/**
 * Node names with every node after its dependencies; otherwise declaration order is kept.
 * @throws {DroverError} ERR_CONFIG_INVALID on an unknown dependency or a cycle (`node` set).
 */
export function getStartOrder(nodes: readonly Pick<NodeSpec, 'name' | 'dependsOn'>[]): string[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  for (const node of nodes) {
    for (const dep of Object.keys(node.dependsOn)) {
      if (!byName.has(dep)) throw new DroverError('ERR_CONFIG_INVALID', `node ${node.name} depends on unknown node ${JSON.stringify(dep)}`, { node: node.name });
    }
  }
  const { order, cycles } = walkDependencyGraph(
    nodes.map((node) => node.name),
    (name) => Object.keys(byName.get(name)!.dependsOn),
  );
  const [cycle] = cycles;
  if (cycle !== undefined) throw new DroverError('ERR_CONFIG_INVALID', `dependency cycle: ${cycle.text}`, { node: cycle.to });
  return order;
}

/** For each node name, the names of the nodes that depend on it. */
export function getDependents(nodes: readonly Pick<NodeSpec, 'name' | 'dependsOn'>[]): Map<string, string[]> {
  const dependents = new Map<string, string[]>(nodes.map((node) => [node.name, []]));
  for (const node of nodes) for (const dep of Object.keys(node.dependsOn)) dependents.get(dep)?.push(node.name);
  return dependents;
}
