// getPageOffset(buffer): the offset of a buffer's first byte within its memory page. JavaScript
// cannot see addresses, but how a read(2) destination sits relative to the pipe's page-aligned
// buffers decides the kernel's copy speed: measured here, a 1 MiB read buffer starting 16 bytes
// past a page boundary took 2.5x the system time of one starting on it (4K aliasing between the
// source and destination of copy_to_user). The I/O path uses this to align its read buffers.
#include "memory.h"

#include <cstdint>
#include <unistd.h>

namespace drover {

Napi::Value GetPageOffset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "Usage: getPageOffset(buffer: Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  auto* start = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) page = 4096;
  return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(start) % static_cast<uintptr_t>(page)));
}

}  // namespace drover
