import { normalizeConfig, type ConfigInvalidError } from '../../config/index.js';
import { isDroverError } from '../../contract/errors.js';

/** The issues `normalizeConfig` refuses `input` with; throws when it accepts it. */
export function getIssues(input: unknown): ConfigInvalidError['issues'] {
  try {
    normalizeConfig(input, { configPath: '/srv/drover.yaml' });
  } catch (error) {
    if (isDroverError(error, 'ERR_CONFIG_INVALID')) return (error as ConfigInvalidError).issues;
    throw error;
  }
  throw new Error('expected normalizeConfig to throw ERR_CONFIG_INVALID');
}

/** A one-node config (`a`, running `sleep 1`) with `fields` added to the node. */
export function withNode(fields: Record<string, unknown>): unknown {
  return { name: 'c', nodes: { a: { command: ['sleep', '1'], ...fields } } };
}
