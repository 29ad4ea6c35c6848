#include "cgroup_handle.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

// Kernel headers older than 5.6 (RHEL 8's 4.18) lack openat2's header; its ABI is stable, so build
// against our own copy there. The kernel at run time decides (ENOSYS falls back below).
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
#include <linux/types.h>
struct open_how {
  __u64 flags;
  __u64 mode;
  __u64 resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture
#endif

#include "sys_error.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

namespace cgfreeze {

namespace {

void CloseFd(int* fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

// openat2 keeps the walk beneath the mount: no "..", symlink or mount
// crossing can lead anywhere else. Kernels before 5.6 lack it; the
// TypeScript layer has already rejected such paths, so plain openat with
// O_NOFOLLOW is the fallback there.
int OpenBeneath(int root_fd, const std::string& rel) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int fd;
  do {
    fd = static_cast<int>(syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0 && errno == ENOSYS) {
    fd = openat(root_fd, rel.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  }
  return fd;
}

}  // namespace

// A uv_poll handle lives until libuv's close callback, which may run after
// the CgroupHandle is gone, so it is owned separately.
struct CgroupHandle::Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference callback;
  Napi::AsyncContext* context;
  CgroupHandle* owner;

  // An error status needs no special path: the re-read reports it with errno.
  static void OnEvent(uv_poll_t* handle, int /*status*/, int /*events*/) {
    Watch* watch = static_cast<Watch*>(handle->data);
    if (watch->owner == nullptr) return;
    Napi::Env env(watch->env);
    Napi::HandleScope scope(env);
    // The callback re-reads cgroup.events itself; the event only says
    // "look again" (the kernel coalesces notifications).
    watch->callback.MakeCallback(env.Global(), {}, *watch->context);
    // No JavaScript is below us on the stack: an exception would stay
    // pending and surface in some unrelated later call. Report it as
    // uncaught instead, like any other event callback.
    if (env.IsExceptionPending()) {
      napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    }
  }

  static void OnClose(uv_handle_t* handle) { delete static_cast<Watch*>(handle->data); }

  static void OnEnvCleanup(void* data) {
    static_cast<Watch*>(data)->owner->StopWatchInternal(true);
  }
};

Napi::Function CgroupHandle::Define(Napi::Env env) {
  return DefineClass(env, "CgroupHandle",
                     {
                         InstanceAccessor<&CgroupHandle::GetVersion>("version"),
                         InstanceAccessor<&CgroupHandle::GetIdentity>("identity"),
                         InstanceAccessor<&CgroupHandle::GetPath>("path"),
                         InstanceAccessor<&CgroupHandle::GetClosed>("closed"),
                         InstanceMethod<&CgroupHandle::WriteState>("writeState"),
                         InstanceMethod<&CgroupHandle::ReadState>("readState"),
                         InstanceMethod<&CgroupHandle::ReadSelf>("readSelf"),
                         InstanceMethod<&CgroupHandle::ReadParentFreezing>("readParentFreezing"),
                         InstanceMethod<&CgroupHandle::WriteKill>("writeKill"),
                         InstanceMethod<&CgroupHandle::Wait>("wait"),
                         InstanceMethod<&CgroupHandle::StartWatch>("watch"),
                         InstanceMethod<&CgroupHandle::StopWatch>("unwatch"),
                         InstanceMethod<&CgroupHandle::Close>("close"),
                     });
}

// new CgroupHandle(mountPoint, relativePath)
CgroupHandle::CgroupHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CgroupHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsString() || !info[1].IsString()) {
    ThrowTypeError(env, "CgroupHandle(mountPoint: string, relativePath: string)");
    return;
  }
  std::string mount = info[0].As<Napi::String>().Utf8Value();
  std::string rel = info[1].As<Napi::String>().Utf8Value();
  if (mount.empty() || mount[0] != '/' || rel.empty() || rel[0] == '/') {
    ThrowTypeError(env, "mountPoint must be absolute and relativePath relative");
    return;
  }
  path_ = mount == "/" ? "/" + rel : mount + "/" + rel;

  int root_fd = open(mount.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    ThrowSysError(env, errno, "open", mount);
    return;
  }
  dir_fd_ = OpenBeneath(root_fd, rel);
  int open_errno = errno;
  close(root_fd);
  if (dir_fd_ < 0) {
    ThrowSysError(env, open_errno, "openat2", path_);
    return;
  }

  struct statfs fs;
  if (fstatfs(dir_fd_, &fs) != 0) {
    ThrowSysError(env, errno, "fstatfs", path_);
    CloseFds();
    return;
  }
  if (fs.f_type == CGROUP2_SUPER_MAGIC) {
    version_ = 2;
  } else if (fs.f_type == CGROUP_SUPER_MAGIC) {
    version_ = 1;
  } else {
    // fstatfs succeeded: this is a finding, not a failed call, so it carries no errno.
    ThrowCodeError(env, "ERR_NOT_A_CGROUP", "not on a cgroup filesystem", path_);
    CloseFds();
    return;
  }

  // statx (glibc 2.28) rather than fstat, whose symbol would raise the prebuilt addon's glibc floor
  // to 2.33. The dev number is put together as stat(2) reports it, which is what node:fs shows.
  struct statx stx;
  if (statx(dir_fd_, "", AT_EMPTY_PATH, STATX_INO, &stx) != 0) {
    ThrowSysError(env, errno, "statx", path_);
    CloseFds();
    return;
  }
  identity_ = std::to_string(
                  static_cast<unsigned long long>(makedev(stx.stx_dev_major, stx.stx_dev_minor))) +
              ":" + std::to_string(static_cast<unsigned long long>(stx.stx_ino));

  if (version_ == 1) {
    state_fd_ = OpenControl(env, "freezer.state", O_RDWR);
  } else {
    state_fd_ = OpenControl(env, "cgroup.freeze", O_RDWR);
    if (state_fd_ >= 0) events_fd_ = OpenControl(env, "cgroup.events", O_RDONLY);
  }
  if (state_fd_ < 0 || (version_ == 2 && events_fd_ < 0)) CloseFds();
}

CgroupHandle::~CgroupHandle() {
  StopWatchInternal(false);  // being finalized: the reference is already gone
  CloseFds();
}

int CgroupHandle::OpenControl(Napi::Env env, const char* name, int flags) {
  int fd;
  do {
    fd = openat(dir_fd_, name, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowSysError(env, errno, "openat", path_ + "/" + name);
  return fd;
}

void CgroupHandle::CloseFds() {
  CloseFd(&state_fd_);
  CloseFd(&events_fd_);
  CloseFd(&self_fd_);
  CloseFd(&parent_fd_);
  CloseFd(&dir_fd_);
}

bool CgroupHandle::EnsureOpen(Napi::Env env) {
  if (state_fd_ >= 0) return true;
  // The TypeScript layer never uses a handle after close(): reaching this is a bug, not an errno.
  Napi::Error::New(env, "CgroupHandle used after close(): " + path_).ThrowAsJavaScriptException();
  return false;
}

Napi::Value CgroupHandle::ReadText(Napi::Env env, int* fd, const char* name) {
  if (*fd < 0) {
    *fd = OpenControl(env, name, O_RDONLY);
    if (*fd < 0) return env.Undefined();
  }
  char buf[256];
  ssize_t n;
  do {
    n = pread(*fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ThrowSysError(env, errno, "pread", path_ + "/" + name);
    return env.Undefined();
  }
  return Napi::String::New(env, buf, static_cast<size_t>(n));
}

Napi::Value CgroupHandle::GetVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), version_);
}

Napi::Value CgroupHandle::GetIdentity(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), identity_);
}

Napi::Value CgroupHandle::GetPath(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), path_);
}

Napi::Value CgroupHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), state_fd_ < 0);
}

Napi::Value CgroupHandle::WriteState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsBoolean()) {
    ThrowTypeError(env, "writeState(frozen: boolean)");
    return env.Undefined();
  }
  if (!EnsureOpen(env)) return env.Undefined();
  bool frozen = info[0].As<Napi::Boolean>().Value();
  const char* text = version_ == 1 ? (frozen ? "FROZEN" : "THAWED") : (frozen ? "1" : "0");
  size_t len = strlen(text);
  ssize_t n;
  do {
    n = pwrite(state_fd_, text, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ThrowSysError(env, errno, "pwrite",
                  path_ + (version_ == 1 ? "/freezer.state" : "/cgroup.freeze"));
  }
  return env.Undefined();
}

Napi::Value CgroupHandle::ReadState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  return version_ == 1 ? ReadText(env, &state_fd_, "freezer.state")
                       : ReadText(env, &events_fd_, "cgroup.events");
}

Napi::Value CgroupHandle::ReadSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  return version_ == 1 ? ReadText(env, &self_fd_, "freezer.self_freezing")
                       : ReadText(env, &state_fd_, "cgroup.freeze");
}

Napi::Value CgroupHandle::ReadParentFreezing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  if (version_ != 1) {
    ThrowTypeError(env, "readParentFreezing() exists only on cgroup v1");
    return env.Undefined();
  }
  return ReadText(env, &parent_fd_, "freezer.parent_freezing");
}

Napi::Value CgroupHandle::WriteKill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!EnsureOpen(env)) return env.Undefined();
  if (version_ != 2) {
    ThrowTypeError(env, "writeKill() exists only on cgroup v2");
    return env.Undefined();
  }
  int fd;
  do {
    fd = openat(dir_fd_, "cgroup.kill", O_WRONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    // Linux before 5.14 has no cgroup.kill: the caller signals each task instead.
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowSysError(env, errno, "openat", path_ + "/cgroup.kill");
    return env.Undefined();
  }
  ssize_t n;
  do {
    n = write(fd, "1", 1);
  } while (n < 0 && errno == EINTR);
  int write_errno = errno;
  close(fd);
  if (n < 0) {
    ThrowSysError(env, write_errno, "write", path_ + "/cgroup.kill");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value CgroupHandle::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    ThrowTypeError(env, "wait(timeoutUs: number)");
    return env.Undefined();
  }
  if (!EnsureOpen(env)) return env.Undefined();
  double us = info[0].As<Napi::Number>().DoubleValue();
  if (!(us >= 0)) us = 0;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(us / 1e6);
  ts.tv_nsec = static_cast<long>((us - static_cast<double>(ts.tv_sec) * 1e6) * 1e3);
  if (version_ == 1) {
    // No notification exists for freezer.state: this is a plain sleep.
    ppoll(nullptr, 0, &ts, nullptr);
    return Napi::Boolean::New(env, false);
  }
  struct pollfd pfd = {events_fd_, POLLPRI, 0};
  int r = ppoll(&pfd, 1, &ts, nullptr);
  if (r < 0 && errno != EINTR) {
    ThrowSysError(env, errno, "ppoll", path_ + "/cgroup.events");
    return env.Undefined();
  }
  return Napi::Boolean::New(env, r > 0 && (pfd.revents & (POLLPRI | POLLERR)));
}

Napi::Value CgroupHandle::StartWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "watch(callback: () => void)");
    return env.Undefined();
  }
  if (!EnsureOpen(env)) return env.Undefined();
  if (version_ != 2) {
    ThrowTypeError(env, "watch() exists only on cgroup v2");
    return env.Undefined();
  }
  if (watch_ != nullptr) {
    watch_->callback.Reset(info[0].As<Napi::Function>(), 1);
    return env.Undefined();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no event loop for watch(): " + path_).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Watch* watch = new Watch();
  watch->env = env;
  watch->context = nullptr;
  watch->owner = this;
  watch->poll.data = watch;
  int r = uv_poll_init(loop, &watch->poll, events_fd_);
  if (r != 0) {
    delete watch;
    ThrowSysError(env, -r, "uv_poll_init", path_ + "/cgroup.events");
    return env.Undefined();
  }
  r = uv_poll_start(&watch->poll, UV_PRIORITIZED, Watch::OnEvent);
  if (r != 0) {
    watch->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), Watch::OnClose);
    ThrowSysError(env, -r, "uv_poll_start", path_ + "/cgroup.events");
    return env.Undefined();
  }
  watch->callback = Napi::Persistent(info[0].As<Napi::Function>());
  watch->context = new Napi::AsyncContext(env, "cgfreeze:watch");
  napi_add_env_cleanup_hook(env, Watch::OnEnvCleanup, watch);
  watch_ = watch;
  Ref();  // a watching handle stays alive until unwatch()
  return env.Undefined();
}

void CgroupHandle::StopWatchInternal(bool unref) {
  Watch* watch = watch_;
  if (watch == nullptr) return;
  watch_ = nullptr;
  napi_remove_env_cleanup_hook(watch->env, Watch::OnEnvCleanup, watch);
  watch->owner = nullptr;
  watch->callback.Reset();
  delete watch->context;
  watch->context = nullptr;
  uv_poll_stop(&watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), Watch::OnClose);
  if (unref) Unref();
}

Napi::Value CgroupHandle::StopWatch(const Napi::CallbackInfo& info) {
  StopWatchInternal(true);
  return info.Env().Undefined();
}

Napi::Value CgroupHandle::Close(const Napi::CallbackInfo& info) {
  StopWatchInternal(true);
  CloseFds();
  return info.Env().Undefined();
}

}  // namespace cgfreeze
