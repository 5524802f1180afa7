/**
 * The one signal table: names and numbers as this platform defines them (`os.constants.signals`).
 * Config, spawn options, the wire protocol and the CLI all look signals up here.
 */
import { constants } from 'node:os';

const SIGNALS = constants.signals as Readonly<Record<string, number | undefined>>;

/** Every signal name this platform knows, e.g. `SIGTERM`. */
export const SIGNAL_NAMES: readonly string[] = Object.keys(SIGNALS);

/** Highest signal number on Linux, realtime signals included (signal(7)). */
export const MAX_SIGNAL_NUMBER = 64;

/**
 * The canonical name of a signal (`SIGTERM`), accepting any case and an omitted `SIG` prefix
 * (`term`, `TERM`, `SigTerm`), or undefined when this platform has no such signal.
 */
export function parseSignalName(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return SIGNALS[name] === undefined ? undefined : name;
}

/** Signal name → number on this platform (`SIGTERM` → 15). Throws RangeError for unknown names. */
export function getSignalNumber(name: string): number {
  const signo = SIGNALS[name];
  if (signo === undefined) throw new RangeError(`unknown signal ${name}`);
  return signo;
}

/** Signal number → name (`9` → `SIGKILL`), or `SIG<n>` for numbers without a name (realtime signals). */
export function getSignalName(signo: number): string {
  for (const [name, value] of Object.entries(SIGNALS)) {
    if (value === signo) return name;
  }
  return `SIG${signo}`;
}

/**
 * A signal given by name (any case, `SIG` optional) or by number (1..64) → its canonical name and
 * number, or undefined when it is neither.
 */
export function resolveSignal(value: unknown): { readonly name: string; readonly signo: number } | undefined {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > MAX_SIGNAL_NUMBER) return undefined;
    return { name: getSignalName(value), signo: value };
  }
  if (typeof value !== 'string') return undefined;
  const name = parseSignalName(value);
  return name === undefined ? undefined : { name, signo: SIGNALS[name]! };
}
