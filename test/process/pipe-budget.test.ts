// Pipe sizing and the per-user pipe budget: pure logic with injected limits.
import { describe, expect, it } from 'vitest';
import { DEFAULT_PIPE_BYTES, getAutoPipeSize, getPipeBudgetWarning, type PipeLimits } from '../../process/pipe-budget.js';

const unprivileged: PipeLimits = { maxSizeBytes: 1048576, userPagesSoft: 16384, isPrivileged: false };

describe('getAutoPipeSize', () => {
  it('asks for pipe-max-size where no budget can run out: privileged, or a soft budget of 0', () => {
    expect(getAutoPipeSize({ ...unprivileged, isPrivileged: true })).toBe(1048576);
    expect(getAutoPipeSize({ ...unprivileged, userPagesSoft: 0 })).toBe(1048576);
  });

  it('keeps the kernel default for an unprivileged user with a budget, and when /proc is unreadable', () => {
    expect(getAutoPipeSize(unprivileged)).toBe(0);
    expect(getAutoPipeSize({ maxSizeBytes: null, userPagesSoft: null, isPrivileged: true })).toBe(0);
  });
});

describe('getPipeBudgetWarning', () => {
  it('says nothing while every pipe has at least the default size (0 = no pipe there)', () => {
    expect(getPipeBudgetWarning([0, DEFAULT_PIPE_BYTES, 1048576], unprivileged)).toBeNull();
    expect(getPipeBudgetWarning([0, 0, 0], unprivileged)).toBeNull();
  });

  it('names the shrunken size, the budget file and its value when a pipe came out at 8 KiB', () => {
    const warning = getPipeBudgetWarning([8192, 8192, 0], unprivileged);
    expect(warning).toContain('8192 bytes');
    expect(warning).toContain('/proc/sys/fs/pipe-user-pages-soft = 16384 pages');
  });
});
