#include "sys_error.h"

#include <string.h>

namespace cgfreeze {

void ThrowSysError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  std::string message = std::string(syscall) + " " + path + ": " + strerror(err);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  error.Set("path", Napi::String::New(env, path));
  error.ThrowAsJavaScriptException();
}

void ThrowCodeError(Napi::Env env, const char* code, const char* what, const std::string& path) {
  Napi::Error error = Napi::Error::New(env, std::string(what) + ": " + path);
  error.Set("code", Napi::String::New(env, code));
  error.Set("path", Napi::String::New(env, path));
  error.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const char* message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

}  // namespace cgfreeze
