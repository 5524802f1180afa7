/**
 * How `up --detach` hands its cluster to the background `up` it starts: `main.js
 * --background-up`, with one JSON document on stdin holding the `up` options, the config as the
 * detaching `up` loaded and validated it (a ClusterSpec is plain JSON) and its warnings. The
 * background `up` so parses no arguments and loads no config again (neither yargs nor zod and yaml
 * are loaded on its way to the first spawn). Internal to drover: both ends are the same build.
 */
import type { ConfigIssue } from '../config/index.js';
import { DroverError } from '../contract/errors.js';
import type { ClusterSpec } from '../contract/types.js';
import type { UpOptions } from './up-options.js';

/** `argv[2]` of the background `up`. */
export const BACKGROUND_UP_ARG = '--background-up';

/** The document on the background `up`'s stdin. */
export interface BackgroundUpRequest {
  readonly options: UpOptions;
  readonly spec: ClusterSpec;
  readonly warnings: readonly ConfigIssue[];
}

/**
 * The document on the background `up`'s stdin instead of a {@link BackgroundUpRequest} when the
 * detaching `up` gives up before the hand-over (the config is invalid, or Ctrl-C): the background
 * `up` starts nothing, removes the state dir of `file` that the detaching `up` prepared for it
 * (under its lock) and exits 0 without a word.
 */
export interface BackgroundUpCancel {
  /** The config path (absolute) whose state dir to clean up. */
  readonly cancelled: { readonly file: string };
}

/**
 * Reads the whole of `input` (the background `up`'s stdin) as a {@link BackgroundUpRequest}, or a
 * {@link BackgroundUpCancel}.
 * @throws {DroverError} ERR_INVALID_OPTION when it is neither (empty or cut short: the detaching
 *   `up` went away before it handed the config over, killed at that moment).
 */
export async function readBackgroundUpRequest(input: NodeJS.ReadableStream): Promise<BackgroundUpRequest | BackgroundUpCancel> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const request = JSON.parse(text) as BackgroundUpRequest | BackgroundUpCancel;
    if ('cancelled' in request && typeof request.cancelled?.file === 'string') return request;
    if ('options' in request && typeof request?.options?.file === 'string' && Array.isArray(request.spec?.nodes) && Array.isArray(request.warnings)) return request;
  } catch {
    // Reported below, as an incomplete hand-over.
  }
  throw new DroverError('ERR_INVALID_OPTION', `${BACKGROUND_UP_ARG}: expected the options and config of \`drover up --detach\` as JSON on stdin, got ${text.length} bytes that are not (did the detaching \`drover up\` go away before it handed them over?)`);
}

/**
 * What the background `up` does with a {@link BackgroundUpCancel}: removes the state dir the
 * detaching `up` prepared (its lock file, the empty up.log, the ready socket; a kept
 * up.failed.log stays), under the state dir's lock, so that a cancelled start leaves nothing
 * behind. A state dir whose lock is held (another `up` took it meanwhile) is left alone.
 * @returns the exit code, 0.
 */
export async function cleanUpCancelledStart(cancel: BackgroundUpCancel): Promise<number> {
  const { acquireStateLock, getStatePaths, removeStateDir, verifyStateDir } = await import('./state-dir.js');
  const paths = verifyStateDir(getStatePaths(cancel.cancelled.file));
  if (paths === null) return 0;
  const attempt = await acquireStateLock(paths);
  if (attempt.lock === null) return 0;
  try {
    removeStateDir(paths, { keepFailedLog: true });
  } finally {
    attempt.lock.release();
  }
  return 0;
}
