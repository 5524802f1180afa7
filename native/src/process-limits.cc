// See process-limits.h. Each function is one system call with its errno turned into an Error whose
// message names the call and whose .code is the errno name (the addon's convention).
#include "process-limits.h"

#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

namespace drover {
namespace {

// The errno's symbolic name: glibc's strerrorname_np knows every errno (libuv's table lacks
// ECHILD and others).
std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : uv_err_name(-err);
}

void ThrowErrno(Napi::Env env, const char* call, int err) {
  std::string name = ErrnoName(err);
  std::string message = std::string(call) + " failed: " + name + " (" + std::strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name));
  error.Set("syscall", Napi::String::New(env, call));
  error.ThrowAsJavaScriptException();
}

Napi::Value LimitValue(Napi::Env env, rlim_t value) {
  if (value == RLIM_INFINITY) return Napi::Number::New(env, INFINITY);
  return Napi::Number::New(env, static_cast<double>(value));
}

}  // namespace

Napi::Value GetFdLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 0) {
    Napi::TypeError::New(env, "Usage: getFdLimit()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    ThrowErrno(env, "getrlimit(RLIMIT_NOFILE)", errno);
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("soft", LimitValue(env, lim.rlim_cur));
  result.Set("hard", LimitValue(env, lim.rlim_max));
  return result;
}

Napi::Value RaiseFdLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 0) {
    Napi::TypeError::New(env, "Usage: raiseFdLimit()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    ThrowErrno(env, "getrlimit(RLIMIT_NOFILE)", errno);
    return env.Undefined();
  }
  rlim_t previous = lim.rlim_cur;
  if (lim.rlim_cur != lim.rlim_max) {
    struct rlimit raised = {lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    } else if (errno == EPERM && lim.rlim_max == RLIM_INFINITY) {
      // An infinite hard limit is above fs.nr_open, which the kernel refuses as a soft limit:
      // fall back to nr_open's usual default (what Go's runtime does too).
      struct rlimit capped = {1048576, lim.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &capped) == 0) lim = capped;
    } else {
      ThrowErrno(env, "setrlimit(RLIMIT_NOFILE)", errno);
      return env.Undefined();
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("soft", LimitValue(env, lim.rlim_cur));
  result.Set("hard", LimitValue(env, lim.rlim_max));
  result.Set("previous", LimitValue(env, previous));
  return result;
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsBoolean()) {
    Napi::TypeError::New(env, "Usage: setChildSubreaper(on: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned long on = info[0].As<Napi::Boolean>().Value() ? 1 : 0;
  if (prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) != 0) ThrowErrno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  return env.Undefined();
}

Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int value = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) {
    ThrowErrno(env, "prctl(PR_GET_CHILD_SUBREAPER)", errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, value != 0);
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "Usage: flock(fd: number, exclusive: boolean, nonBlocking: boolean)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = (info[1].As<Napi::Boolean>().Value() ? LOCK_EX : LOCK_SH) | (info[2].As<Napi::Boolean>().Value() ? LOCK_NB : 0);
  int r;
  do {
    r = flock(fd, op);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    ThrowErrno(env, "flock(2)", errno);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value ReapPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "Usage: reapPid(pid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int pid = info[0].As<Napi::Number>().Int32Value();
  // P_PID with a positive pid only: waitid(P_ALL) would steal the statuses libuv waits for.
  if (pid <= 0) {
    Napi::RangeError::New(env, "reapPid: pid must be a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  int r;
  do {
    r = waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    ThrowErrno(env, "waitid(2)", errno);
    return env.Undefined();
  }
  if (si.si_pid == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  bool exited = si.si_code == CLD_EXITED;
  result.Set("exitCode", exited ? Napi::Number::New(env, si.si_status) : env.Null());
  result.Set("signal", exited ? env.Null() : Napi::Number::New(env, si.si_status));
  return result;
}

}  // namespace drover
