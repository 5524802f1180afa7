/**
 * How long a CLI client waits for the manager (`DROVER_CLIENT_TIMEOUT`). A module of its own, so
 * that reading the setting does not load the control client (and Node's `http`).
 */
import { parseDurationMs } from '../config/duration.js';
import { DroverError } from '../contract/errors.js';

/** How long a client waits for the manager when `DROVER_CLIENT_TIMEOUT` does not say. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000;

/** The largest `DROVER_CLIENT_TIMEOUT`: one day. */
const MAX_CLIENT_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/**
 * `DROVER_CLIENT_TIMEOUT` in ms (a duration such as `30s`, `1.5m`, `500ms`, or a number of ms),
 * else {@link DEFAULT_CLIENT_TIMEOUT_MS}.
 * @throws {DroverError} ERR_INVALID_OPTION naming the variable when it is not a duration from 1 ms to 24 h.
 */
export async function getClientTimeoutMs(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const value = env.DROVER_CLIENT_TIMEOUT;
  if (value === undefined || value === '') return DEFAULT_CLIENT_TIMEOUT_MS;
  let ms: number;
  try {
    ms = parseDurationMs(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
  } catch {
    ms = Number.NaN;
  }
  if (!(ms >= 1 && ms <= MAX_CLIENT_TIMEOUT_MS)) {
    throw new DroverError('ERR_INVALID_OPTION', `Expected DROVER_CLIENT_TIMEOUT to be a duration from 1ms to 24h such as 10s, 1.5m or 500ms (or a number of milliseconds), got ${JSON.stringify(value)} (string)`);
  }
  return ms;
}
