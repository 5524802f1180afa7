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

/** A replica label as fault records carry it (`a`, `b[1]`) → node name and replica. */
export function parseReplicaLabel(label: string): { readonly name: string; readonly replica: number } {
  const match = /^(.*)\[(\d+)\]$/.exec(label);
  return match === null ? { name: label, replica: 0 } : { name: match[1]!, replica: Number(match[2]) };
}
