// Errors thrown to JavaScript carry either the real errno, syscall and path
// of a failed call, or a cgfreeze code for a finding, so the TypeScript layer
// maps them to stable codes without parsing messages.
#ifndef CGFREEZE_SYS_ERROR_H_
#define CGFREEZE_SYS_ERROR_H_

#include <napi.h>

#include <string>

namespace cgfreeze {

// Throws an Error with message "<syscall> <path>: <strerror>" and the
// properties errno (positive), syscall and path set.
void ThrowSysError(Napi::Env env, int err, const char* syscall, const std::string& path);

// Throws an Error for a finding that is not a failed system call: the
// property code is a cgfreeze error code (e.g. ERR_NOT_A_CGROUP), path is
// set, and there is no errno.
void ThrowCodeError(Napi::Env env, const char* code, const char* what, const std::string& path);

// Throws a TypeError for a bad argument; the TypeScript layer validates
// first, so this only guards against misuse of the raw binding.
void ThrowTypeError(Napi::Env env, const char* message);

}  // namespace cgfreeze

#endif  // CGFREEZE_SYS_ERROR_H_
