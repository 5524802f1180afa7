/**
 * How long after the first Ctrl-C a SIGINT is that same Ctrl-C again, in ms. A terminal sends
 * SIGINT to its whole foreground process group, and npm (`npx drover up`, `npm run drover -- up`)
 * passes the SIGINT it got on to its own child: when that child is drover (npm's script shell
 * execs a lone command, as bash does), one Ctrl-C arrives twice, milliseconds apart (37 ms measured
 * under npm 11 on an idle machine). Taken for a second Ctrl-C, it would SIGKILL every node.
 */
export const SAME_CTRL_C_MS = 500;

/**
 * Returns a function to call on each SIGINT: false when it is the first Ctrl-C delivered again
 * (less than `windowMs` after the first SIGINT), true when it counts. Every SIGINT after the
 * window counts: the second Ctrl-C that kills every node is pressed after `up` said "Ctrl-C again".
 * @param clock milliseconds, monotonic. @default performance.now
 * @param windowMs @default SAME_CTRL_C_MS
 */
export function createCtrlCFilter(clock: () => number = () => performance.now(), windowMs: number = SAME_CTRL_C_MS): () => boolean {
  let firstAt: number | null = null;
  return () => {
    const now = clock();
    if (firstAt === null) {
      firstAt = now;
      return true;
    }
    return now - firstAt >= windowMs;
  };
}
