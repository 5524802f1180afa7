/**
 * Exact shape of the raw addon (native/src/addon.cc). Internal: only native/index.ts uses it. A
 * module of its own (not a hand-written .d.ts) so that tsc emits its declarations next to
 * dist/native/index.d.ts, which imports them.
 */
export interface RawWatcher {
  close(): void;
  ref(): void;
  unref(): void;
}

export interface RawBinding {
  readonly protocolVersion: number;
  socketpair(): [number, number];
  send(fd: number, data: Buffer): number;
  sendRecords(fd: number, records: Buffer[], timeoutMs: number): Promise<void>;
  closeFd(fd: number): void;
  Watcher: new (
    fd: number,
    onMessage: (data: Buffer | null, fds: number[]) => void,
    onEof: (error: string | null) => void,
  ) => RawWatcher;
  getPeerCred(fd: number): { pid: number; uid: number; gid: number };
  getPageOffset(buffer: Uint8Array): number;
  getFdLimit(): { soft: number; hard: number };
  raiseFdLimit(): { soft: number; hard: number; previous: number };
  setChildSubreaper(on: boolean): void;
  isChildSubreaper(): boolean;
  flock(fd: number, exclusive: boolean, nonBlocking: boolean): boolean;
  reapPid(pid: number): { exitCode: number | null; signal: number | null } | null;
}
