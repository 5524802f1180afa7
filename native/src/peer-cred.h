// getPeerCred(fd): the credentials of the process at the other end of a Unix socket (SO_PEERCRED).
#pragma once
#include <napi.h>

namespace drover {
// getPeerCred(fd: number) -> { pid, uid, gid }; throws with `code` = errno name, `syscall`.
Napi::Value GetPeerCred(const Napi::CallbackInfo& info);
}  // namespace drover
