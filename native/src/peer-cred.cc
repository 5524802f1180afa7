// getPeerCred(fd): who is at the other end of a connected AF_UNIX socket. The control API's
// server uses it to refuse clients of another uid (the socket's 0600 mode is the first layer;
// this is the second, and it also holds when someone loosens the mode or the directory).
// SO_PEERCRED is Linux's; the credentials are those the peer had at connect(2) time.
#include "peer-cred.h"

#include <uv.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>

namespace drover {

Napi::Value GetPeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "Usage: getPeerCred(fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t length = sizeof cred;
  std::memset(&cred, 0, sizeof cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    int err = errno;
    std::string message = std::string("getsockopt(SO_PEERCRED) failed: ") + uv_err_name(-err) + " (" + std::strerror(err) + ")";
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, uv_err_name(-err)));
    error.Set("syscall", Napi::String::New(env, "getsockopt"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

}  // namespace drover
