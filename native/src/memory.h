// getPageOffset(buffer): where a buffer's memory starts within its page. The I/O path aligns its
// read buffers with it (see manager/aligned-buffer.ts).
#pragma once
#include <napi.h>

namespace drover {
// getPageOffset(buffer: Uint8Array) -> number: (address of buffer[0]) % page size.
Napi::Value GetPageOffset(const Napi::CallbackInfo& info);
}  // namespace drover
