#include "peer_cred.h"

#include <errno.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "sys_error.h"

namespace cgfreeze {

namespace {

// The fd argument of both functions, or -1 after throwing a TypeError.
int FdArgument(const Napi::CallbackInfo& info, const char* usage) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowTypeError(info.Env(), usage);
    return -1;
  }
  return info[0].As<Napi::Number>().Int32Value();
}

// The kernel caps supplementary groups at NGROUPS_MAX (65536); never ask for more.
constexpr size_t kMaxGroups = 65536;

}  // namespace

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, "peerCred(fd): fd must be a number");
  if (fd < 0) return env.Undefined();
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ThrowSysError(env, errno, "getsockopt", "fd " + std::to_string(fd));
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

Napi::Value PeerGroups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArgument(info, "peerGroups(fd): fd must be a number");
  if (fd < 0) return env.Undefined();
  std::vector<gid_t> groups(32);
  socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  // ERANGE: the buffer was too small and the kernel wrote the size it needs into len.
  while (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
    int err = errno;
    size_t needed = len / sizeof(gid_t);
    if (err != ERANGE || needed <= groups.size() || needed > kMaxGroups) {
      ThrowSysError(env, err, "getsockopt", "fd " + std::to_string(fd));
      return env.Undefined();
    }
    groups.resize(needed);
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  }
  size_t count = len / sizeof(gid_t);
  Napi::Array result = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) result.Set(i, Napi::Number::New(env, groups[i]));
  return result;
}

}  // namespace cgfreeze
