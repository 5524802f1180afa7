// Process-wide settings of the manager: the fd limit (RLIMIT_NOFILE), child-subreaper status, an
// advisory lock on a file (flock), and reaping one specific child without touching the others.
#pragma once
#include <napi.h>

namespace drover {
// getFdLimit() -> { soft, hard } of RLIMIT_NOFILE (Infinity for RLIM_INFINITY).
Napi::Value GetFdLimit(const Napi::CallbackInfo& info);
// raiseFdLimit() -> { soft, hard, previous }: soft raised to hard (capped at nr_open by the kernel).
Napi::Value RaiseFdLimit(const Napi::CallbackInfo& info);
// setChildSubreaper(on: boolean): prctl(PR_SET_CHILD_SUBREAPER).
Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info);
// isChildSubreaper() -> boolean: prctl(PR_GET_CHILD_SUBREAPER).
Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info);
// flock(fd, exclusive: boolean, nonBlocking: boolean) -> boolean (false: EWOULDBLOCK).
Napi::Value Flock(const Napi::CallbackInfo& info);
// reapPid(pid) -> null while the child runs, else { exitCode, signal }: waitid(P_PID, WNOHANG).
Napi::Value ReapPid(const Napi::CallbackInfo& info);
}  // namespace drover
