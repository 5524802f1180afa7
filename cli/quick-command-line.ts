/**
 * The command lines of the commands users wait on most (`up`, `ps`, `down`, `start`, `stop`,
 * `restart`, `kill`, `validate`, `analyze`), read by Node's own `util.parseArgs` so that they run
 * without loading yargs: yargs's chunk, its setup of every command and its help layout were ~20 ms
 * of a cold `drover ps` (~120 ms) and of `drover up` before its first spawn (bench/README.md,
 * "run 6").
 *
 * yargs stays the command line's definition: this reads only the plain forms of these commands'
 * own options, which yargs reads the same way, and returns null for anything else, which then goes
 * to yargs (its help, version, completion, error messages and every other form): `--help`,
 * `--version`, an unknown option or command, a missing or extra positional, a repeated option
 * other than `-f` and `--profile` (`--tty` and `--no-tty` count as one), a word after
 * `--profile VALUE` (yargs reads it as another profile), `--`, a value after `=` on a short
 * option (`-f=x`) or glued to it (`-fx`), grouped short options, a `--no-` form other than `up`'s
 * `--no-tty` and `--no-deps`, `--json=false`, a value that starts with `-`, an option without its
 * value. test/cli/quick-command-line.test.ts runs each form this accepts through yargs too
 * (`DROVER_CLI_QUICK=0`) and compares what drover did.
 */
import { parseArgs } from 'node:util';
import type { NodeAction } from './client-commands.js';

/** `drover up`'s own options as yargs reads them (defaults applied), but `-f`. */
export interface UpCommandOptions {
  readonly nodes: readonly string[];
  readonly deps: boolean;
  readonly detach: boolean;
  readonly wait: boolean;
  readonly timestamps: boolean;
  readonly tty: boolean;
  readonly strict: boolean;
  readonly profile: readonly string[] | undefined;
}

/** A command line as yargs would have read it: option values after defaults. */
export type QuickCommand =
  | ({ readonly command: 'up'; readonly files: readonly string[] } & UpCommandOptions)
  | { readonly command: 'ps' | 'analyze'; readonly files: readonly string[]; readonly json: boolean }
  | { readonly command: 'validate'; readonly files: readonly string[]; readonly json: boolean; readonly strict: boolean; readonly profile: readonly string[] | undefined }
  | { readonly command: 'down'; readonly files: readonly string[]; readonly timeout: string | undefined }
  | { readonly command: NodeAction; readonly files: readonly string[]; readonly nodes: readonly string[]; readonly signal: string | undefined };

type OptionSpec = { readonly type: 'string' | 'boolean'; readonly short?: string; readonly multiple?: boolean };

const FILE: Record<string, OptionSpec> = { file: { type: 'string', short: 'f', multiple: true } };

/** Each command's own options (as cli/main.ts gives them to yargs) and whether it takes node names. */
const COMMANDS: Record<QuickCommand['command'], { readonly options: Record<string, OptionSpec>; readonly nodes: boolean | 'optional' }> = {
  up: {
    options: {
      ...FILE,
      deps: { type: 'boolean' },
      'no-deps': { type: 'boolean' },
      detach: { type: 'boolean', short: 'd' },
      wait: { type: 'boolean' },
      timestamps: { type: 'boolean', short: 't' },
      tty: { type: 'boolean' },
      'no-tty': { type: 'boolean' },
      strict: { type: 'boolean' },
      profile: { type: 'string', multiple: true },
    },
    nodes: 'optional',
  },
  ps: { options: { ...FILE, json: { type: 'boolean' } }, nodes: false },
  analyze: { options: { ...FILE, json: { type: 'boolean' } }, nodes: false },
  validate: { options: { ...FILE, json: { type: 'boolean' }, strict: { type: 'boolean' }, profile: { type: 'string', multiple: true } }, nodes: false },
  down: { options: { ...FILE, timeout: { type: 'string' } }, nodes: false },
  start: { options: FILE, nodes: true },
  stop: { options: FILE, nodes: true },
  restart: { options: FILE, nodes: true },
  kill: { options: { ...FILE, signal: { type: 'string', short: 's' } }, nodes: true },
};

function isQuickCommand(word: string | undefined): word is QuickCommand['command'] {
  return word !== undefined && Object.hasOwn(COMMANDS, word);
}

/**
 * `args` (process.argv after the script) as one of the commands above, or null when it is
 * anything else: yargs reads it then. Never throws.
 */
export function readQuickCommandLine(args: readonly string[]): QuickCommand | null {
  const [command, ...rest] = args;
  if (!isQuickCommand(command) || rest.includes('--')) return null;
  const spec = COMMANDS[command];
  let parsed: ReturnType<typeof parseArgs<{ options: Record<string, OptionSpec>; allowPositionals: true; strict: true; tokens: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: rest, options: spec.options, allowPositionals: true, strict: true, tokens: true });
  } catch {
    return null; // an unknown option, a missing value, a value that looks like an option: yargs says what
  }
  const seen = new Set<string>();
  const argIndexes = new Set<number>();
  let afterProfile = false;
  for (const token of parsed.tokens) {
    // yargs takes the words after an array option's value as more values (`--profile a b`).
    if (token.kind === 'positional' && afterProfile) return null;
    if (token.kind !== 'option') continue;
    if (token.name === 'profile') afterProfile = true;
    // `-f=x` means x to yargs and "=x" to parseArgs; `-fx` (a glued value) and grouped short
    // options (two options from one argument) are left to yargs too.
    if (!token.rawName.startsWith('--') && token.inlineValue === true) return null;
    if (argIndexes.has(token.index)) return null;
    argIndexes.add(token.index);
    // yargs makes an array of a repeated option; `--tty --no-tty` is one option given twice.
    const name = token.name.replace(/^no-/, '');
    if (name !== 'file' && name !== 'profile' && seen.has(name)) return null;
    seen.add(name);
  }
  const positionals = parsed.positionals;
  if (spec.nodes === true ? positionals.length === 0 : spec.nodes === false && positionals.length > 0) return null;
  const values = parsed.values as { file?: string[]; json?: boolean; timeout?: string; signal?: string; profile?: string[] } & Record<string, boolean | undefined>;
  const files = values.file ?? [];
  switch (command) {
    case 'up':
      return {
        command,
        files,
        nodes: positionals,
        deps: !values['no-deps'],
        detach: values.detach ?? false,
        wait: values.wait ?? false,
        timestamps: values.timestamps ?? false,
        tty: !values['no-tty'],
        strict: values.strict ?? false,
        profile: values.profile,
      };
    case 'ps':
    case 'analyze':
      return { command, files, json: values.json ?? false };
    case 'validate':
      return { command, files, json: values.json ?? false, strict: values.strict ?? false, profile: values.profile };
    case 'down':
      return { command, files, timeout: values.timeout };
    default:
      return { command, files, nodes: positionals, signal: values.signal };
  }
}
