export { ManagedProcess, spawn } from './managed-process.js';
export type { ProcessResult } from './managed-process.js';
export type { OutputPolicy, SpawnOptions } from './options.js';
export type { PipeReader } from './pipe-streams.js';
export { OutputBuffer } from './output-buffer.js';
export type { BufferedLine, OutputBufferOptions } from './output-buffer.js';
