/**
 * Every default and limit that more than one layer needs, in one place: the config normalizer
 * (`config/`), the spawn-option normalizer (`process/`) and the cluster (`cluster/`) read them
 * from here, so a default changes in one line. Units are in the names (`Ms`, `Bytes`).
 */

/** Stop: the first signal sent to a node's process group. */
export const DEFAULT_STOP_SIGNAL = 'SIGTERM';
/** Stop: how long after the stop signal SIGKILL follows, ms (docker compose's `stop_grace_period` is 10 s as well). */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Output ring buffer: lines kept across both streams. */
export const DEFAULT_OUTPUT_MAX_LINES = 1000;
/** Output ring buffer: bytes kept across both streams (1 MiB). */
export const DEFAULT_OUTPUT_MAX_BYTES = 1024 * 1024;
/** Longest line kept whole, bytes (64 KiB); a longer one is split at this size. */
export const MAX_LINE_BYTES = 64 * 1024;

/** Readiness checks: how long a check may take in all before the start fails, ms. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** Readiness checks: time between two attempts, ms. */
export const DEFAULT_READY_INTERVAL_MS = 250;
/** Liveness checks: how long one probe may take, ms. */
export const DEFAULT_LIVENESS_TIMEOUT_MS = 1000;
/** Liveness checks: time between two probes, ms. */
export const DEFAULT_LIVENESS_INTERVAL_MS = 10_000;

/**
 * How long a run must last to count as started, ms (supervisord's `startsecs`, pm2's
 * `min_uptime`); a run that ends sooner is a failed start.
 */
export const DEFAULT_MIN_UPTIME_MS = 500;

/** Backoff between restarts: first delay, ms. */
export const DEFAULT_BACKOFF_INITIAL_MS = 100;
/** Backoff between restarts: longest delay, ms. */
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
/** Backoff between restarts: growth factor per attempt. */
export const DEFAULT_BACKOFF_MULTIPLIER = 2;
/** Backoff between restarts: proportional jitter (±20 %). */
export const DEFAULT_BACKOFF_JITTER = 0.2;

/** Most replicas one node may have. */
export const MAX_REPLICAS = 1000;

/** Names of setrlimit(2) resources, as in prlimit(1) and `ulimit`, in Linux's RLIMIT_* order (generic ABI). */
export const RESOURCE_LIMIT_NAMES = [
  'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile', 'memlock', 'as', 'locks', 'sigpending', 'msgqueue', 'nice', 'rtprio', 'rttime',
] as const;

/**
 * File watch (`watch`): quiet time after the last change before the restart, ms. Chosen, not
 * borrowed: long enough to fold an editor's save (write + rename + chmod within a few ms) and a
 * `git checkout` of a few files into one restart, short enough to go unnoticed next to a restart;
 * watchexec's default debounce (50 ms) is the lower bound we compared with.
 */
export const DEFAULT_WATCH_DEBOUNCE_MS = 200;
/** File watch: directory names ignored wherever they appear, unless `ignore` is given. */
export const DEFAULT_WATCH_IGNORE: readonly string[] = ['**/node_modules/**', '**/.git/**', '**/dist/**'];
/**
 * File watch: most directories and files one node may watch (each costs an inotify watch and
 * memory); past it the watch fails naming the limit instead of exhausting
 * fs.inotify.max_user_watches (8192 on many kernels).
 */
export const MAX_WATCHED_ENTRIES = 20_000;

/** Output file (`output.file`): size at which the file is rotated, bytes (10 MiB, as docker's json-file `max-size` examples). */
export const DEFAULT_OUTPUT_FILE_MAX_BYTES = 10 * 1024 * 1024;
/** Output file: rotated files kept besides the current one (`app.log.1` … `app.log.<keep>`). */
export const DEFAULT_OUTPUT_FILE_KEEP = 3;
/** Output file: most rotated files kept. */
export const MAX_OUTPUT_FILE_KEEP = 100;
/** Output file: bytes of lines waiting for the disk, per replica; past it lines are dropped and counted. */
export const OUTPUT_FILE_MAX_PENDING_BYTES = 1024 * 1024;
