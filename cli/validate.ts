import { loadConfig } from '../config/index.js';

/** `drover validate`: loads and validates the config; errors (every one, with its path) go to stderr via the caller. */
export async function runValidate(options: { file: string; strict: boolean }): Promise<number> {
  const { spec, warnings } = await loadConfig(options.file, { strict: options.strict });
  for (const warning of warnings) process.stderr.write(`warning: ${warning.path}: ${warning.message}\n`);
  process.stdout.write(`${options.file}: valid (cluster ${spec.name}, ${spec.nodes.length} node${spec.nodes.length === 1 ? '' : 's'}: ${spec.nodes.map((n) => n.name).join(', ')})\n`);
  return 0;
}
