// CgroupHandle: the open file descriptors of one cgroup's freezer files.
//
// The directory is opened once (O_PATH, confined beneath its mount with
// openat2) and the control files relative to it, so repeated freeze/thaw
// cycles cost only the pwrite/pread syscalls themselves. All policy (pacing,
// deadlines, rollback, validation) and all parsing live in TypeScript; this
// class only writes, reads, and waits.
#ifndef CGFREEZE_CGROUP_HANDLE_H_
#define CGFREEZE_CGROUP_HANDLE_H_

#include <napi.h>
#include <uv.h>

#include <string>

namespace cgfreeze {

class CgroupHandle : public Napi::ObjectWrap<CgroupHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CgroupHandle(const Napi::CallbackInfo& info);
  ~CgroupHandle() override;

 private:
  struct Watch;

  // Accessors.
  Napi::Value GetVersion(const Napi::CallbackInfo& info);
  Napi::Value GetIdentity(const Napi::CallbackInfo& info);
  Napi::Value GetPath(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  // writeState(frozen): FROZEN/THAWED (v1) or 1/0 (v2).
  Napi::Value WriteState(const Napi::CallbackInfo& info);
  // The read methods return the file's text as the kernel wrote it (one
  // pread at offset 0); TypeScript parses it.
  // readState(): v1 freezer.state, v2 cgroup.events.
  Napi::Value ReadState(const Napi::CallbackInfo& info);
  // readSelf(): v1 freezer.self_freezing, v2 cgroup.freeze.
  Napi::Value ReadSelf(const Napi::CallbackInfo& info);
  // readParentFreezing(): v1 freezer.parent_freezing.
  Napi::Value ReadParentFreezing(const Napi::CallbackInfo& info);
  // writeKill(): v2 cgroup.kill; false when the kernel has none (before 5.14).
  Napi::Value WriteKill(const Napi::CallbackInfo& info);
  // wait(timeoutUs): v2 blocks in ppoll(POLLPRI) on cgroup.events and returns
  // true when the kernel signalled a change; v1 has no notification and just
  // sleeps, returning false.
  Napi::Value Wait(const Napi::CallbackInfo& info);
  // watch(callback) / unwatch(): v2 only, a uv_poll handle on cgroup.events
  // in prioritized mode (EPOLLPRI) on this environment's event loop.
  Napi::Value StartWatch(const Napi::CallbackInfo& info);
  Napi::Value StopWatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  bool EnsureOpen(Napi::Env env);
  int OpenControl(Napi::Env env, const char* name, int flags);
  Napi::Value ReadText(Napi::Env env, int* fd, const char* name);
  void StopWatchInternal(bool unref);
  void CloseFds();

  std::string path_;
  int version_ = 0;
  int dir_fd_ = -1;
  int state_fd_ = -1;   // v1 freezer.state / v2 cgroup.freeze (read-write)
  int events_fd_ = -1;  // v2 cgroup.events
  int self_fd_ = -1;    // v1 freezer.self_freezing, opened on first use
  int parent_fd_ = -1;  // v1 freezer.parent_freezing, opened on first use
  std::string identity_;
  Watch* watch_ = nullptr;
};

}  // namespace cgfreeze

#endif  // CGFREEZE_CGROUP_HANDLE_H_
