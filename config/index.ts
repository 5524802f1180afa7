/**
 * drover.yaml: load, validate and normalize cluster configs. The only module other folders import
 * from `config/`.
 */
export { loadConfig, normalizeConfig } from './loader.js';
export type { LoadConfigOptions, LoadedConfig, NormalizeConfigOptions } from './loader.js';
export { parseDurationMs } from './duration.js';
export { parseSizeBytes } from './size.js';
export type { ConfigInvalidError, ConfigIssue } from './issues.js';
export type { ConfigInput } from './schema.js';
export { getSignalName } from './signal.js';
export { getPortEnvName, getTemplateReferences, renderTemplate } from './template.js';
export type { TemplateContext, TemplateReference } from './template.js';
