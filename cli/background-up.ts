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
 * Reads the whole of `input` (the background `up`'s stdin) as a {@link BackgroundUpRequest}.
 * @throws {DroverError} ERR_INVALID_OPTION when it is not one (empty or cut short: the detaching
 *   `up` went away before it handed the config over, e.g. Ctrl-C at that moment).
 */
export async function readBackgroundUpRequest(input: NodeJS.ReadableStream): Promise<BackgroundUpRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const request = JSON.parse(text) as BackgroundUpRequest;
    if (typeof request?.options?.file === 'string' && Array.isArray(request.spec?.nodes) && Array.isArray(request.warnings)) return request;
  } catch {
    // Reported below, as an incomplete hand-over.
  }
  throw new DroverError('ERR_INVALID_OPTION', `${BACKGROUND_UP_ARG}: expected the options and config of \`drover up --detach\` as JSON on stdin, got ${text.length} bytes that are not (did the detaching \`drover up\` go away before it handed them over?)`);
}
