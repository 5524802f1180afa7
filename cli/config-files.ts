/**
 * The config files and profiles a command line names: `-f` may be given several times (the files
 * merge in order, as docker compose's `-f` does; the first one also finds the running cluster's
 * state dir), `--profile` enables profiles on top of `DROVER_PROFILES`.
 */

let named: readonly string[] = [];

/** `-f`'s coerce: remembers every file given and returns the first (the one that names the cluster). */
export function takeConfigFiles(value: unknown): string {
  const list = (Array.isArray(value) ? value : [value]).map((v) => String(v));
  named = list;
  return list[0]!;
}

/** Every `-f` file of this command line, `first` (what `-f` resolved to) when there was one. */
export function getConfigFiles(first: string): readonly string[] {
  return named[0] === first ? named : [first];
}

/** `--profile` values (each may be comma-separated), or undefined when none was given (DROVER_PROFILES then applies). */
export function getProfiles(value: readonly string[] | undefined): readonly string[] | undefined {
  if (value === undefined || value.length === 0) return undefined;
  return value.flatMap((v) => String(v).split(',')).map((p) => p.trim()).filter((p) => p !== '');
}
