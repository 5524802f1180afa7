import { stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import picomatch from 'picomatch';
import { MAX_WATCHED_ENTRIES } from '../contract/defaults.js';
import { DroverError } from '../contract/errors.js';
import type { WatchSpec } from '../contract/types.js';

/**
 * One node's file watch: chokidar 4 (a pinned dependency) rather than Node's recursive
 * `fs.watch`. On Linux, Node 20's recursive `fs.watch` is implemented in JavaScript on top of
 * per-directory inotify watches, and has thrown ENOENT as an unhandled 'error' when a file or
 * directory is removed while it stats or scans it (nodejs/node#52018; the scan race fixed only in
 * 2026 by nodejs/node#63686, not in Node 20); chokidar handles removals, follows atomic saves (write to a temp file + rename) and lets `ignore` prune whole
 * subtrees before they are watched, so `node_modules` never costs a watch.
 */
export class NodeFileWatch {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Paths taken so far (chokidar asks about one path several times); at most maxEntries + 1. */
  private readonly seen = new Set<string>();
  private overflowed = false;
  private started = false;

  /**
   * @param node The node's name, for error messages.
   * @param onChange Called once per debounce window after the last change under `spec.paths`.
   */
  constructor(
    readonly node: string,
    readonly spec: WatchSpec,
    private readonly onChange: () => void,
    /** Most files and directories watched (tests lower it). @default MAX_WATCHED_ENTRIES */
    private readonly maxEntries = MAX_WATCHED_ENTRIES,
  ) {}

  /**
   * Starts watching; resolves once the initial scan is done.
   * @throws {DroverError} ERR_WATCH naming the node and the path when a path does not exist, and
   *   naming the limit when more than MAX_WATCHED_ENTRIES files and directories would be watched.
   */
  async start(): Promise<void> {
    for (const path of this.spec.paths) {
      try {
        await stat(path);
      } catch (error) {
        const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
        throw new DroverError('ERR_WATCH', `node ${this.node}: watch.paths: ${path}: ${errno === 'ENOENT' ? 'no such file or directory' : errno}`, {
          node: this.node,
          path,
          errno,
          cause: error,
        });
      }
    }
    const isIgnored = picomatch(this.spec.ignore as string[], { dot: true });
    // A directory matched by `**/node_modules/**` is skipped itself (not only its contents).
    const isIgnoredDir = (path: string) => isIgnored(`${path}/`) || isIgnored(`${path}/x`);
    const watcher = watch([...this.spec.paths], {
      ignoreInitial: true,
      persistent: true,
      ignored: (path: string) => {
        if (isIgnored(path) || isIgnoredDir(path)) return true;
        // Bound what one node watches: past the limit every further entry is ignored and the
        // start fails below, instead of exhausting inotify watches and memory on a huge tree.
        if (this.seen.has(path)) return false;
        if (this.seen.size >= this.maxEntries) {
          if (!this.overflowed && this.started) {
            process.emitWarning(`drover: node ${this.node}: watch: more than ${this.maxEntries} files and directories (the limit per node); new ones are not watched`, 'DroverWarning');
          }
          this.overflowed = true;
          return true;
        }
        this.seen.add(path);
        return false;
      },
    });
    this.watcher = watcher;
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve);
      watcher.once('error', reject);
    }).catch(async (error: unknown) => {
      await this.close();
      throw new DroverError('ERR_WATCH', `node ${this.node}: watch failed: ${(error as Error).message}`, { node: this.node, cause: error });
    });
    if (this.overflowed) {
      await this.close();
      throw new DroverError(
        'ERR_WATCH',
        `node ${this.node}: watch.paths ${this.spec.paths.join(', ')} hold more than ${this.maxEntries} files and directories (the limit per node); watch a narrower path or add to watch.ignore`,
        { node: this.node, path: this.spec.paths[0] },
      );
    }
    this.started = true;
    watcher.on('all', () => this.changed());
    watcher.on('error', (error) => process.emitWarning(`drover: node ${this.node}: watch: ${(error as Error).message}`, 'DroverWarning'));
  }

  /** Stops watching and drops a pending restart. Idempotent. */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const watcher = this.watcher;
    this.watcher = null;
    await watcher?.close();
  }

  private changed(): void {
    if (this.watcher === null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
    }, this.spec.debounceMs);
  }
}
