/**
 * Pipe sizing and the per-user pipe budget (pipe(7), "/proc files"). An unprivileged user whose
 * pipes together hold more than fs.pipe-user-pages-soft pages (16384 = 64 MiB by default, i.e.
 * ~1000 default-sized pipes) gets new pipes of 2 pages (8 KiB) and may not enlarge them; output
 * then moves in 8 KiB steps. drover requests big pipes only where no budget applies, reads back
 * the sizes the shepherd obtained, and warns once when a pipe came out shrunken.
 */
import { readFileSync } from 'node:fs';

/** Kernel default pipe size (16 pages of 4 KiB). */
export const DEFAULT_PIPE_BYTES = 64 * 1024;

/** What the kernel reports under /proc/sys/fs (null where unreadable). */
export interface PipeLimits {
  /** fs.pipe-max-size, bytes: the largest size an unprivileged F_SETPIPE_SZ may set. */
  readonly maxSizeBytes: number | null;
  /** fs.pipe-user-pages-soft, pages; 0 = no soft budget. */
  readonly userPagesSoft: number | null;
  /** Whether this process is exempt from the budget (uid 0, which normally has CAP_SYS_RESOURCE). */
  readonly isPrivileged: boolean;
}

function readNumber(file: string): number | null {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    // Not Linux, or /proc not mounted: treat as unknown, which keeps the kernel default.
    return null;
  }
}

let limits: PipeLimits | undefined;

/** Reads the limits once per process. */
export function getPipeLimits(): PipeLimits {
  limits ??= {
    maxSizeBytes: readNumber('/proc/sys/fs/pipe-max-size'),
    userPagesSoft: readNumber('/proc/sys/fs/pipe-user-pages-soft'),
    isPrivileged: process.getuid?.() === 0,
  };
  return limits;
}

/**
 * The size `'auto'` stands for: pipe-max-size where no budget can run out (privileged, or a soft
 * budget of 0), else 0 (the kernel default, 64 KiB), so a cluster of unprivileged nodes does not
 * spend the user's budget 16 times faster.
 */
export function getAutoPipeSize(current: PipeLimits = getPipeLimits()): number {
  if (current.maxSizeBytes === null) return 0;
  if (current.isPrivileged || current.userPagesSoft === 0) return current.maxSizeBytes;
  return 0;
}

/**
 * The warning for a set of obtained pipe sizes, or null when none shrank. `sizes` are the
 * F_GETPIPE_SZ values of stdin, stdout, stderr (0: no pipe there).
 */
export function getPipeBudgetWarning(sizes: readonly number[], current: PipeLimits = getPipeLimits()): string | null {
  const shrunk = sizes.filter((size) => size > 0 && size < DEFAULT_PIPE_BYTES);
  if (shrunk.length === 0) return null;
  const soft = current.userPagesSoft === null ? 'unknown' : `${current.userPagesSoft} pages`;
  return (
    `a child's pipe came out at ${Math.min(...shrunk)} bytes instead of at least ${DEFAULT_PIPE_BYTES}: this user's pipe budget ` +
    `(/proc/sys/fs/pipe-user-pages-soft = ${soft}) is used up, so every new pipe is 8 KiB and output moves slower. ` +
    'Raise fs.pipe-user-pages-soft (sysctl), run fewer processes, or close idle pipes (stdout/stderr: "ignore").'
  );
}

let warned = false;

/** Emits the pipe budget warning at most once per process. Returns whether it warned now. */
export function warnPipeBudgetOnce(sizes: readonly number[]): boolean {
  if (warned) return false;
  const message = getPipeBudgetWarning(sizes);
  if (message === null) return false;
  warned = true;
  process.emitWarning(message, { code: 'DROVER_PIPE_BUDGET' });
  return true;
}
