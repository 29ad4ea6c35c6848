// Cheap checks on file descriptors the TypeScript layer keeps open, so a
// cached container resolution is revalidated with one syscall per check
// instead of a path walk and a Stats object:
//   readProbe(fd)             pread(2) of up to 64 bytes at offset 0. A held
//                             /proc/<pid>/ file fails with ESRCH once that
//                             process is gone, even if its pid is reused.
//   statAt(dirFd, name, out)  fstatat(2) of one entry of a held directory,
//                             without following a symlink. Fills out (a
//                             Float64Array of 4) with ino, mtime s, mtime ns,
//                             size; false when the entry does not exist.
#ifndef CGFREEZE_FD_PROBE_H_
#define CGFREEZE_FD_PROBE_H_

#include <napi.h>

namespace cgfreeze {

// readProbe(fd: number) -> bytes read; throws errno + syscall on error.
Napi::Value ReadProbe(const Napi::CallbackInfo& info);

// statAt(dirFd: number, name: string, out: Float64Array) -> boolean.
Napi::Value StatAt(const Napi::CallbackInfo& info);

}  // namespace cgfreeze

#endif  // CGFREEZE_FD_PROBE_H_
