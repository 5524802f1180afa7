// drover's native addon: the small, boring part that lives inside the manager process.
//
// Surface (see native/binding.d.ts): socketpair(), watch(fd, onMessage, onEof) -> Watcher,
// send(fd, buffer), sendRecords(fd, buffers, timeoutMs) -> Promise, closeFd(fd). A crash here takes the manager down, so it does as little as
// possible: everything risky happens in the shepherd, a separate process.
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "memory.h"
#include "peer-cred.h"
#include "process-limits.h"
#include "protocol.h"

namespace {

// Napi::Error whose message starts with the failing call and whose .code is the errno name
// (node-pty's convention, plus the code).
Napi::Error ErrnoError(Napi::Env env, const char* call, int err) {
  std::string message = std::string(call) + " failed: " + uv_err_name(-err) + " (" + strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, uv_err_name(-err)));
  error.Set("syscall", Napi::String::New(env, call));
  return error;
}

void ThrowUsage(Napi::Env env, const char* usage) {
  Napi::TypeError::New(env, std::string("Usage: ") + usage).ThrowAsJavaScriptException();
}

// socketpair() -> [managerFd, shepherdFd], AF_UNIX SOCK_SEQPACKET, both close-on-exec.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 0) {
    ThrowUsage(env, "socketpair()");
    return env.Undefined();
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    ErrnoError(env, "socketpair(2)", errno).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // A SEQPACKET record must fit the buffers whole. Unprivileged processes are capped at
  // net.core.wmem_max; a larger SPAWN then fails with EMSGSIZE, reported as ERR_SPAWN_FAILED.
  int size = PROTOCOL_MAX_MESSAGE + 4096;
  for (int fd : fds) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, fds[0]));
  result.Set(1u, Napi::Number::New(env, fds[1]));
  return result;
}

// send(fd, buffer[, fds]) — one record, non-blocking; throws with code EAGAIN when the buffer is full.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBuffer()) {
    ThrowUsage(env, "send(fd: number, data: Buffer)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  do {
    n = ::send(fd, data.Data(), data.Length(), MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ErrnoError(env, "send(2)", errno).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// sendRecords(fd, records: Buffer[], timeoutMs) -> Promise<void>: sends the records in order on a
// libuv worker thread, waiting for POLLOUT whenever the socket buffer is full, so a message larger
// than the buffer (a SPAWN of several MiB) goes out as the peer reads it and the event loop never
// blocks. Rejects with .code ETIMEDOUT when timeoutMs pass without the peer making room, or with
// the errno of send(2) (EPIPE: the peer is gone). The caller must not close fd until it settles.
class SendRecordsWorker : public Napi::AsyncWorker {
 public:
  SendRecordsWorker(Napi::Env env, int fd, std::vector<Napi::Buffer<uint8_t>> records, int timeout_ms)
      : Napi::AsyncWorker(env, "drover.sendRecords"), fd_(fd), timeout_ms_(timeout_ms), deferred_(Napi::Promise::Deferred::New(env)) {
    for (Napi::Buffer<uint8_t>& record : records) {
      // The references keep each Buffer (and its memory, which V8 never moves) alive until the
      // worker is destroyed, on the main thread, after OnOK/OnError.
      chunks_.emplace_back(record.Data(), record.Length());
      keep_.push_back(Napi::Persistent(record));
    }
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (const auto& chunk : chunks_) {
      for (;;) {
        ssize_t n = ::send(fd_, chunk.first, chunk.second, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return Fail("send(2)", errno);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= timeout_ms_) return Fail("send(2)", ETIMEDOUT);
        struct pollfd p = {fd_, POLLOUT, 0};
        if (poll(&p, 1, static_cast<int>(timeout_ms_ - elapsed)) < 0 && errno != EINTR) return Fail("poll(2)", errno);
      }
    }
  }

  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

  void OnError(const Napi::Error&) override { deferred_.Reject(ErrnoError(Env(), call_, errno_).Value()); }

 private:
  void Fail(const char* call, int err) {
    call_ = call;
    errno_ = err;
    SetError(call);
  }

  int fd_;
  int timeout_ms_;
  const char* call_ = "send(2)";
  int errno_ = 0;
  std::vector<std::pair<const uint8_t*, size_t>> chunks_;
  std::vector<Napi::Reference<Napi::Buffer<uint8_t>>> keep_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value SendRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "sendRecords(fd: number, records: Buffer[], timeoutMs: number)";
  if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsNumber()) {
    ThrowUsage(env, usage);
    return env.Undefined();
  }
  Napi::Array array = info[1].As<Napi::Array>();
  std::vector<Napi::Buffer<uint8_t>> records;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsBuffer()) {
      ThrowUsage(env, usage);
      return env.Undefined();
    }
    records.push_back(item.As<Napi::Buffer<uint8_t>>());
  }
  int timeout_ms = info[2].As<Napi::Number>().Int32Value();
  auto* worker = new SendRecordsWorker(env, info[0].As<Napi::Number>().Int32Value(), std::move(records), timeout_ms < 0 ? 0 : timeout_ms);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    ThrowUsage(env, "closeFd(fd: number)");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  // close(2) is not retried on EINTR on Linux: the fd is released either way.
  if (close(fd) != 0 && errno != EINTR) {
    ErrnoError(env, "close(2)", errno).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

// Watcher: a uv_poll on a SEQPACKET socket; each record → onMessage(Buffer, fds[]), EOF → onEof().
// The watcher owns the fd from watch() on and closes it in close().
class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Watcher",
                       {InstanceMethod("close", &Watcher::Close), InstanceMethod("ref", &Watcher::JsRef),
                        InstanceMethod("unref", &Watcher::JsUnref)});
  }

  Watcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsFunction()) {
      ThrowUsage(env, "new Watcher(fd: number, onMessage: Function, onEof: Function)");
      return;
    }
    fd_ = info[0].As<Napi::Number>().Int32Value();
    on_message_ = Napi::Persistent(info[1].As<Napi::Function>());
    on_eof_ = Napi::Persistent(info[2].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "drover.Watcher");
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "napi_get_uv_event_loop failed").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new uv_poll_t;
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      ErrnoError(env, "uv_poll_init", -rc).ThrowAsJavaScriptException();
      return;
    }
    poll_->data = this;
    rc = uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnPoll);
    if (rc != 0) {
      ErrnoError(env, "uv_poll_start", -rc).ThrowAsJavaScriptException();
      return;
    }
    // Keep the JS object alive while the poll is active.
    Ref();
    active_ = true;
  }

  ~Watcher() override {
    active_ = false;  // a collected watcher holds no reference to drop
    Shutdown();
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Watcher* self = static_cast<Watcher*>(handle->data);
    if (self == nullptr || !self->active_) return;
    try {
      self->Drain(status, events);
    } catch (const Napi::Error&) {
      // N-API refused a call outside Invoke: JS cannot run any more. That happens when a record
      // reaches an unref'd watcher while Node tears the environment down (FreeEnvironment runs the
      // loop once more to close handles). Stop watching without calling into JS; the fd closes and
      // the peer sees the hangup, as it would a moment later when the process is gone.
      self->Abandon();
    }
  }

  // Shutdown() without any N-API call (no Unref): for when JS can no longer run.
  void Abandon() {
    active_ = false;
    Shutdown();
  }

  void Drain(int status, int events) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // libuv reports EPOLLERR as UV_EBADF and stops the handle. On this socket that is the
      // pending ECONNRESET of a peer that closed with one of our records unread (a shepherd that
      // reported the exit and left while our STOP was queued): the records it sent before closing
      // are still queued. Take the error (SO_ERROR clears it), watch again and read them; any
      // other error ends the stream.
      int pending = 0;
      socklen_t len = sizeof pending;
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &pending, &len) != 0 || pending != ECONNRESET ||
          uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnPoll) != 0) {
        Finish(env, uv_err_name(status));
        return;
      }
    }
    (void)events;
    std::vector<uint8_t> buf(PROTOCOL_MAX_MESSAGE);
    // Bounded batch per wakeup so one chatty shepherd cannot starve the loop.
    for (int i = 0; i < 64 && active_; i++) {
      union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
      } control;
      struct iovec iov = {buf.data(), buf.size()};
      struct msghdr msg;
      memset(&msg, 0, sizeof msg);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) {
        // ECONNRESET comes before the records still queued (a datagram-style receive reports the
        // socket's error first and clears it): read on, the queue ends with EOF.
        if (errno == EINTR || errno == ECONNRESET) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        Finish(env, uv_err_name(-errno));
        return;
      }
      std::vector<int> fds;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          const int* data = reinterpret_cast<const int*>(CMSG_DATA(c));
          for (size_t k = 0; k < count; k++) fds.push_back(data[k]);
        }
      }
      if (n == 0 && fds.empty()) {
        Finish(env, nullptr);
        return;
      }
      if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
        // A record we cannot trust whole: close what arrived and report it as a protocol error.
        for (int fd : fds) close(fd);
        fds.clear();
        n = -1;
      }
      Napi::Array jsFds = Napi::Array::New(env, fds.size());
      for (size_t k = 0; k < fds.size(); k++) jsFds.Set(static_cast<uint32_t>(k), Napi::Number::New(env, fds[k]));
      Napi::Value payload = n < 0 ? env.Null() : Napi::Buffer<uint8_t>::Copy(env, buf.data(), static_cast<size_t>(n)).As<Napi::Value>();
      if (!Invoke(env, on_message_, {payload, jsFds})) return;
    }
  }

  void Finish(Napi::Env env, const char* error) {
    if (!active_) return;
    Shutdown();
    Napi::Value arg = error == nullptr ? env.Null() : Napi::String::New(env, error).As<Napi::Value>();
    Invoke(env, on_eof_, {arg});
  }

  // Calls back into JS from a libuv callback, where no JS frame can catch: an exception thrown by
  // the callback becomes the process's uncaughtException (as for any JS callback) instead of a C++
  // exception escaping into libuv, which would std::terminate the manager. Returns false if it threw.
  bool Invoke(Napi::Env env, Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    try {
      fn.MakeCallback(Value(), args, *context_);
      return true;
    } catch (const Napi::Error& error) {
      napi_fatal_exception(env, error.Value());
      return false;
    }
  }

  // Stops polling and closes the fd. The uv handle is freed in its close callback.
  void Shutdown() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (active_) {
      active_ = false;
      Unref();
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  int fd_ = -1;
  bool active_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference on_message_;
  Napi::FunctionReference on_eof_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("sendRecords", Napi::Function::New(env, SendRecords, "sendRecords"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("Watcher", Watcher::Init(env));
  exports.Set("getPeerCred", Napi::Function::New(env, drover::GetPeerCred, "getPeerCred"));
  exports.Set("getPageOffset", Napi::Function::New(env, drover::GetPageOffset, "getPageOffset"));
  exports.Set("getFdLimit", Napi::Function::New(env, drover::GetFdLimit, "getFdLimit"));
  exports.Set("raiseFdLimit", Napi::Function::New(env, drover::RaiseFdLimit, "raiseFdLimit"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, drover::SetChildSubreaper, "setChildSubreaper"));
  exports.Set("isChildSubreaper", Napi::Function::New(env, drover::IsChildSubreaper, "isChildSubreaper"));
  exports.Set("flock", Napi::Function::New(env, drover::Flock, "flock"));
  exports.Set("reapPid", Napi::Function::New(env, drover::ReapPid, "reapPid"));
  exports.Set("protocolVersion", Napi::Number::New(env, PROTOCOL_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(drover_native, Init)
