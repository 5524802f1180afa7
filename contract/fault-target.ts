/** How a fault's target reads, in `drover fault ls`, `ps` and span names. */
import type { FaultRecord } from './types.js';

/**
 * What `fault` acts on: a partition's groups (`a|b,c`; one-way: `a→b,c`), a link (`a→b`,
 * `a→b:peer`) or the nodes (`a`, `a,b[1]`). `arrow` joins a link's ends: `→` in span names,
 * ` → ` for people.
 */
export function describeFaultTarget(fault: FaultRecord, arrow = '→'): string {
  if (fault.partition !== undefined) return fault.partition.groups.map((group) => group.join(',')).join(fault.partition.oneWay ? arrow : '|');
  if (fault.link !== null) return `${fault.link.from}${arrow}${fault.link.to}${fault.link.port === null ? '' : `:${fault.link.port}`}`;
  return fault.nodes.join(',');
}
