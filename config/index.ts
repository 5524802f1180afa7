/**
 * drover.yaml: load, validate and normalize cluster configs. The only module other folders import
 * from `config/`.
 */
export { loadConfig, normalizeConfig } from './loader.js';
export type { LoadConfigOptions, LoadedConfig, NormalizeConfigOptions } from './loader.js';
export { MAX_TIMER_MS, parseDurationMs, parseDurationOption } from './duration.js';
export { MAX_OUTPUT_BYTES, MAX_OUTPUT_LINES, parseSizeBytes } from './size.js';
export { compileUserPattern, MAX_PATTERN_LENGTH } from '../contract/pattern.js';
export type { LinearPattern } from '../contract/pattern.js';
export { MAX_CONFIG_BYTES, MAX_ENV_FILE_BYTES } from './read-file.js';
export type { ConfigInvalidError, ConfigIssue } from './issues.js';
export type { ConfigInput } from './schema.js';
export { parseSignalName } from './signal.js';
export { getPortEnvName, getTemplateReferences, renderTemplate } from '../contract/template.js';
export type { TemplateContext, TemplateReference } from '../contract/template.js';
