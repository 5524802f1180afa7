import { loadConfig, type ConfigIssue } from '../config/index.js';
import { isDroverError } from '../contract/errors.js';
import { EXIT_OK, EXIT_USAGE } from './exit-codes.js';

/** `drover validate --json` answer. */
export interface ValidateAnswer {
  readonly file: string;
  readonly valid: boolean;
  /** Cluster and node names when valid. */
  readonly name: string | null;
  readonly nodes: readonly string[];
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/**
 * `drover validate`: loads and validates the config. Every error with its path goes to stderr
 * (via the caller) and exits 1; `--json` prints a {@link ValidateAnswer} instead, valid or not.
 */
export async function runValidate(options: { file: string; files?: readonly string[]; profiles?: readonly string[] | undefined; strict: boolean; json: boolean }): Promise<number> {
  const load = () => loadConfig(options.files ?? options.file, { strict: options.strict, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) });
  if (options.json) {
    try {
      const { spec, warnings } = await load();
      const answer: ValidateAnswer = { file: options.file, valid: true, name: spec.name, nodes: spec.nodes.map((n) => n.name), errors: [], warnings };
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return EXIT_OK;
    } catch (error) {
      if (!isDroverError(error, 'ERR_CONFIG_INVALID') && !isDroverError(error, 'ERR_CONFIG_READ')) throw error;
      const issues = (error as { issues?: readonly ConfigIssue[] }).issues ?? [{ path: '', message: error.message }];
      const warnings = (error as { warnings?: readonly ConfigIssue[] }).warnings ?? [];
      const answer: ValidateAnswer = { file: options.file, valid: false, name: null, nodes: [], errors: issues, warnings };
      process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
      return EXIT_USAGE;
    }
  }
  const { spec, warnings } = await load();
  for (const warning of warnings) process.stderr.write(`warning: ${warning.path}: ${warning.message}\n`);
  process.stdout.write(`${(options.files ?? [options.file]).join(' + ')}: valid (cluster ${spec.name}, ${spec.nodes.length} node${spec.nodes.length === 1 ? '' : 's'}: ${spec.nodes.map((n) => n.name).join(', ')})\n`);
  return EXIT_OK;
}
