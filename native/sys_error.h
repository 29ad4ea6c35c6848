// Errors thrown to JavaScript always carry errno, syscall and path, so the
// TypeScript layer can map them to stable codes without parsing messages.
#ifndef CGFREEZE_SYS_ERROR_H_
#define CGFREEZE_SYS_ERROR_H_

#include <napi.h>

#include <string>

namespace cgfreeze {

// Throws an Error with message "<syscall> <path>: <strerror>" and the
// properties errno (positive), syscall and path set.
void ThrowSysError(Napi::Env env, int err, const char* syscall, const std::string& path);

// Throws a TypeError for a bad argument; the TypeScript layer validates
// first, so this only guards against misuse of the raw binding.
void ThrowTypeError(Napi::Env env, const char* message);

}  // namespace cgfreeze

#endif  // CGFREEZE_SYS_ERROR_H_
