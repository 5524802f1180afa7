/**
 * Signal names for `stop.signal`.
 */
import { constants } from 'node:os';
import { getClosestMatch } from './closest-match.js';

/** Every signal name this platform knows (`os.constants.signals`), e.g. `SIGTERM`. */
export const SIGNAL_NAMES: readonly string[] = Object.keys(constants.signals);

/**
 * The canonical name of a signal (`SIGTERM`), accepting any case and an omitted `SIG` prefix
 * (`term`, `TERM`, `SigTerm`), or undefined when this platform has no such signal.
 */
export function getSignalName(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return SIGNAL_NAMES.includes(name) ? name : undefined;
}

/** The known signal name closest to a misspelled one (`SIGTREM` → `SIGTERM`), for a hint. */
export function getClosestSignalName(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  return getClosestMatch(upper.startsWith('SIG') ? upper : `SIG${upper}`, SIGNAL_NAMES);
}
