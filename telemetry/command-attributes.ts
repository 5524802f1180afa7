/**
 * What a span may say about a node's command: the executable's base name always, the arguments
 * only when the node opts in (`telemetry.recordArgs`), with secrets redacted. Environment values
 * are never read here, so they can never reach an attribute.
 */

import { basename } from 'node:path';
import type { Attributes } from '@opentelemetry/api';
import { compileUserPattern, type LinearPattern } from '../contract/pattern.js';
import type { NodeSpec } from '../contract/types.js';
import { ATTR_PROCESS_COMMAND_ARGS, ATTR_PROCESS_EXECUTABLE_NAME, REDACTED_VALUE } from './semconv.js';

/**
 * Redaction applied to recorded arguments before the node's own `redact` patterns: the value of
 * `key=value` / `key:value` arguments whose key looks secret (password, secret, token, api key,
 * auth, credential), and userinfo in URLs (`https://user:pass@host`). RE2 has no lookaround, so
 * the context kept around the secret is captured in groups named `before` and `after`.
 */
export const DEFAULT_REDACT_PATTERNS: readonly LinearPattern[] = Object.freeze([
  compileUserPattern('(?i)(?P<before>(?:pass(?:word|wd)?|secret|token|api[-_]?key|auth(?:orization)?|credentials?)[=:]).+'),
  compileUserPattern('(?i)(?P<before>[a-z][a-z0-9+.-]*://)[^/@\\s]+(?P<after>@)'),
]);

/** Attributes of one node's command: executable name, and redacted args when recorded. */
export function getCommandAttributes(node: Pick<NodeSpec, 'command' | 'telemetry'>): Attributes {
  const [executable] = node.command;
  const attributes: Attributes = {};
  if (executable !== undefined) {
    attributes[ATTR_PROCESS_EXECUTABLE_NAME] = basename(executable);
  }
  if (node.telemetry?.recordArgs === true) {
    // Validated at config time; compiling again here costs microseconds per pattern.
    const patterns = [...DEFAULT_REDACT_PATTERNS, ...node.telemetry.redact.map((source) => compileUserPattern(source, 'redact pattern'))];
    attributes[ATTR_PROCESS_COMMAND_ARGS] = node.command.map((arg) => redact(arg, patterns));
  }
  return attributes;
}

/**
 * `text` with every match of every pattern replaced by `[REDACTED]`; the text of a group named
 * `before` or `after` in the match is kept in front of or behind the placeholder. Patterns run on
 * RE2, so redaction takes time linear in the text.
 */
export function redact(text: string, patterns: readonly LinearPattern[]): string {
  let result = text;
  for (const pattern of patterns) {
    result = pattern.replaceAll(result, (_match, groups) => `${groups['before'] ?? ''}${REDACTED_VALUE}${groups['after'] ?? ''}`);
  }
  return result;
}
