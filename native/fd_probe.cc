#include "fd_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "sys_error.h"

namespace cgfreeze {

namespace {

std::string FdName(int fd) {
  return "fd " + std::to_string(fd);
}

}  // namespace

Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowTypeError(env, "readProbe(fd): fd must be a number");
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  char buf[64];
  ssize_t n;
  do {
    n = pread(fd, buf, sizeof(buf), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ThrowSysError(env, errno, "pread", FdName(fd));
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value StatAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[2].As<Napi::TypedArray>().ElementLength() < 4) {
    ThrowTypeError(env, "statAt(dirFd, name, out): a number, a string and a Float64Array(4)");
    return env.Undefined();
  }
  int dir_fd = info[0].As<Napi::Number>().Int32Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Float64Array out = info[2].As<Napi::Float64Array>();
  struct stat st;
  if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    ThrowSysError(env, errno, "fstatat", FdName(dir_fd) + "/" + name);
    return env.Undefined();
  }
  out[0] = static_cast<double>(st.st_ino);
  out[1] = static_cast<double>(st.st_mtim.tv_sec);
  out[2] = static_cast<double>(st.st_mtim.tv_nsec);
  out[3] = static_cast<double>(st.st_size);
  return Napi::Boolean::New(env, true);
}

}  // namespace cgfreeze
