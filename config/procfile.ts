/**
 * Procfiles (foreman, honcho, overmind) as drover configs: a file named `Procfile` or `Procfile.*`
 * (`Procfile.dev`) is read as one, turned into the same input object a drover.yaml would give,
 * and then validated like any config.
 *
 * The line format is one regular expression, as in foreman (lib/foreman/procfile.rb, `parse`:
 * `/^([A-Za-z0-9_-]+):\s*(.+)$/`) and honcho (honcho/environ.py, `PROCFILE_LINE`); there is no
 * maintained Procfile parser on npm (`procfile` 0.1.1 is a single, unmaintained release).
 * foreman skips every line that does not match; drover skips only blank lines and `#` comments and
 * reports any other line that does not match (a typo would otherwise drop a process silently), as
 * it reports a name given twice (honcho does too).
 *
 * What each line becomes:
 * - `command`: the text after `name:`, run through `/bin/sh -c` (`shell: true`), as foreman runs it;
 * - `ports: [port]` and `env.PORT: "{{ports.port}}"`: foreman gives process N the port 5000 + 100·N;
 *   drover gives each node a free port of its own (its port leases), so two clusters, or a port
 *   already taken on the machine, never collide. `PORT` wins over a `PORT` in the `.env`, as in foreman;
 * - `envFile: .env` when a `.env` exists beside the Procfile: foreman reads it into every process's
 *   environment (dotenv syntax, read by `util.parseEnv` like every envFile).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ConfigIssue } from './issues.js';

/** The name a port of a Procfile node gets (`{{ports.port}}`, `DROVER_PORT_PORT`), exposed as `PORT`. */
export const PROCFILE_PORT_NAME = 'port';

/** A Procfile line: foreman's and honcho's regular expression. */
const PROCFILE_LINE = /^([A-Za-z0-9_-]+):\s*(.+)$/;
/** A line foreman skips that drover skips too: blank, or a `#` comment. */
const SKIPPED_LINE = /^\s*(?:#.*)?$/;

/** True when `path` names a Procfile: its basename is `Procfile` or starts with `Procfile.`. */
export function isProcfilePath(path: string): boolean {
  const name = basename(path);
  return name === 'Procfile' || (name.startsWith('Procfile.') && name.length > 'Procfile.'.length);
}

/** A drover.yaml node made from one Procfile line. */
export interface ProcfileNodeInput {
  command: string;
  shell: true;
  ports: string[];
  envFile?: string;
  env: Record<string, string>;
}

/** What a Procfile becomes: the drover.yaml input object, or the problems of its lines. */
export type ProcfileResult =
  | { readonly ok: true; readonly data: { name: string; nodes: Record<string, ProcfileNodeInput> } }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/**
 * The drover.yaml input object equivalent to the Procfile `text` read from `path`: one node per
 * line, in file order; the cluster is named after the Procfile's directory. `hasDotEnv` says
 * whether a `.env` is beside it (default: looked up on disk).
 * Issues name the line (`line 3`) of lines that are neither `name: command`, blank nor a comment,
 * and of names given twice.
 */
export function parseProcfile(text: string, path: string, hasDotEnv: boolean = existsSync(join(dirname(path), '.env'))): ProcfileResult {
  const nodes: Record<string, ProcfileNodeInput> = {};
  const firstLine = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const lineNumber = index + 1;
    if (SKIPPED_LINE.test(line)) return;
    const match = PROCFILE_LINE.exec(line);
    if (match === null) {
      issues.push({ path: `line ${lineNumber}`, message: `expected "name: command" (name of letters, digits, "_" and "-"), a blank line or a # comment, got ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)}` });
      return;
    }
    const name = match[1]!;
    const command = match[2]!.trim();
    const first = firstLine.get(name);
    if (first !== undefined) {
      issues.push({ path: `line ${lineNumber}`, message: `process ${name} is already defined on line ${first}; each name may appear once` });
      return;
    }
    firstLine.set(name, lineNumber);
    nodes[name] = {
      command,
      shell: true,
      ports: [PROCFILE_PORT_NAME],
      ...(hasDotEnv ? { envFile: '.env' } : {}),
      env: { PORT: `{{ports.${PROCFILE_PORT_NAME}}}` },
    };
  });
  if (issues.length === 0 && firstLine.size === 0) issues.push({ path: 'line 1', message: 'expected at least one "name: command" line, got none' });
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, data: { name: getClusterName(path), nodes } };
}

/** The Procfile's directory name, as a cluster name (other characters become `-`). */
function getClusterName(path: string): string {
  const name = basename(dirname(path)).replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '');
  return name === '' ? 'procfile' : name;
}
