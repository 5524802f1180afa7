import { getPageOffset } from '../native/index.js';

/** Page size assumed for alignment (x86-64 and most arm64 Linux kernels). */
const PAGE_BYTES = 4096;

/**
 * A Buffer of `size` bytes whose first byte sits `pageOffset` bytes past a page boundary.
 *
 * Why: read(2) from a pipe copies out of page-aligned kernel pages, and the copy's speed depends on
 * where the destination sits within its page. Measured on this project's 2-core KVM machines
 * (bench/README.md): a 1 MiB read buffer starting 16 bytes past a page boundary (where glibc puts
 * an mmap'd malloc block) took 700 ms of system time per GiB read; page-aligned, 280 ms. The
 * difference is 4K aliasing between the loads and stores of `copy_to_user`.
 */
export function allocateAligned(size: number, pageOffset = 0): Buffer {
  const raw = Buffer.allocUnsafeSlow(size + PAGE_BYTES);
  let offset: number;
  try {
    offset = getPageOffset(raw);
  } catch (error) {
    // No addon (ERR_NATIVE_LOAD): an unaligned buffer is slower, never wrong. Spawning fails on its
    // own with the real error; a standalone OutputBuffer keeps working.
    void error;
    return raw.subarray(0, size);
  }
  const skip = (PAGE_BYTES - offset + pageOffset) % PAGE_BYTES;
  return raw.subarray(skip, skip + size);
}
