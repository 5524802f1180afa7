/**
 * The one polling helper: waits until `read()` returns a value that satisfies `predicate`.
 * On timeout the error shows what was awaited and the last observed state (process-compose
 * `waitForProcessState`; node-pty's message-less `pollUntil` is the counter-example).
 */
export async function waitFor<T>(
  read: () => T | Promise<T>,
  predicate: (value: T) => boolean,
  options: { timeoutMs?: number; intervalMs?: number; describe: string },
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 20, describe } = options;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      lastError = undefined;
      if (predicate(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const seen = lastError !== undefined ? `threw ${String(lastError)}` : JSON.stringify(last, null, 1)?.slice(0, 2000);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe}; last observed: ${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
