/**
 * What a span may say about a node's command: the executable's base name always, the arguments
 * only when the node opts in (`telemetry.recordArgs`), with secrets redacted. Environment values
 * are never read here, so they can never reach an attribute.
 */

import { basename } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import type { NodeSpec } from '../manager/types.js';
import { ATTR_PROCESS_COMMAND_ARGS, ATTR_PROCESS_EXECUTABLE_NAME, REDACTED_VALUE } from './semconv.js';

/**
 * Redaction applied to recorded arguments before the node's own `redact` patterns: the value of
 * `key=value` / `key:value` arguments whose key looks secret (password, secret, token, api key,
 * auth, credential), and userinfo in URLs (`https://user:pass@host`).
 */
export const DEFAULT_REDACT_PATTERNS: readonly RegExp[] = Object.freeze([
  /(?<=(?:pass(?:word|wd)?|secret|token|api[-_]?key|auth(?:orization)?|credentials?)[=:]).+/gi,
  /(?<=[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+(?=@)/gi,
]);

/** Attributes of one node's command: executable name, and redacted args when recorded. */
export function getCommandAttributes(node: Pick<NodeSpec, 'command' | 'telemetry'>): Attributes {
  const [executable] = node.command;
  const attributes: Attributes = {};
  if (executable !== undefined) {
    attributes[ATTR_PROCESS_EXECUTABLE_NAME] = basename(executable);
  }
  if (node.telemetry?.recordArgs === true) {
    const patterns = [...DEFAULT_REDACT_PATTERNS, ...node.telemetry.redact.map((source) => new RegExp(source, 'g'))];
    attributes[ATTR_PROCESS_COMMAND_ARGS] = node.command.map((arg) => redact(arg, patterns));
  }
  return attributes;
}

/** `text` with every match of every pattern replaced by `[REDACTED]`. */
export function redact(text: string, patterns: readonly RegExp[]): string {
  let result = text;
  for (const pattern of patterns) {
    pattern.lastIndex = 0;
    result = result.replace(pattern, REDACTED_VALUE);
  }
  return result;
}
