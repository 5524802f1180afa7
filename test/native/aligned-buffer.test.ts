import { describe, expect, it } from 'vitest';
import { allocateAligned } from '../../process/aligned-buffer.js';
import { getPageOffset } from '../../native/index.js';

describe('allocateAligned / getPageOffset', () => {
  it('places the first byte at the asked offset within its page, whatever malloc returned', () => {
    for (const size of [1, 4096, 65536, 1024 * 1024 + 3]) {
      for (const offset of [0, 16, 2048, 4095]) {
        const buffer = allocateAligned(size, offset);
        expect(buffer.length).toBe(size);
        expect(getPageOffset(buffer)).toBe(offset);
        // The whole buffer is writable memory of its own.
        buffer.fill(0xab);
        expect(buffer[size - 1]).toBe(0xab);
      }
    }
  });

  it('reports offsets of views, which move with byteOffset', () => {
    const buffer = allocateAligned(8192, 0);
    expect(getPageOffset(buffer.subarray(100))).toBe(100);
    expect(getPageOffset(buffer.subarray(4096))).toBe(0);
  });

  it('refuses what is not a Uint8Array', () => {
    expect(() => getPageOffset('x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('allocateAligned without the addon', () => {
  it('falls back to an unaligned buffer of the right size when the addon cannot load', async () => {
    const { spawnSync } = await import('node:child_process');
    const path = await import('node:path');
    const module = path.resolve('dist', 'process', 'aligned-buffer.js');
    const script = `const { allocateAligned } = await import(${JSON.stringify(module)}); const b = allocateAligned(70000, 0); b.fill(1); console.log(b.length);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, DROVER_NATIVE_ADDON: '/nonexistent/drover_native.node' } });
    expect([r.status, r.stdout.trim()], r.stderr).toEqual([0, '70000']);
  });
});
