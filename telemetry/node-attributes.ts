/** Identity of one node replica, shared by the metric and span producers. */

import type { Attributes } from '@opentelemetry/api';
import { ATTR_NODE_NAME, ATTR_NODE_REPLICA } from './semconv.js';

/** Map key of one node replica (names cannot contain NUL, so the pair is unambiguous). */
export function getNodeKey(name: string, replica: number): string {
  return `${name}\u0000${replica}`;
}

/** The attributes every metric point and span of a node carries. */
export function getNodeAttributes(name: string, replica: number): Attributes {
  return { [ATTR_NODE_NAME]: name, [ATTR_NODE_REPLICA]: replica };
}
