/**
 * Signal names for `stop.signal`: the lookup is contract/signals.ts; this adds the spelling hint.
 */
import { parseSignalName, SIGNAL_NAMES } from '../contract/signals.js';
import { getClosestMatch } from './closest-match.js';

export { parseSignalName, SIGNAL_NAMES };

/** The known signal name closest to a misspelled one (`SIGTREM` → `SIGTERM`), for a hint. */
export function getClosestSignalName(value: string): string | undefined {
  const upper = value.trim().toUpperCase();
  return getClosestMatch(upper.startsWith('SIG') ? upper : `SIG${upper}`, SIGNAL_NAMES);
}
