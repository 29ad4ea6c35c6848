// Module entry: exports only. See cgroup_handle.h for the primitives.
#include <napi.h>

#include "cgroup_handle.h"
#include "fd_probe.h"
#include "peer_cred.h"

namespace cgfreeze {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CgroupHandle", CgroupHandle::Define(env));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
  exports.Set("statAt", Napi::Function::New(env, StatAt, "statAt"));
  exports.Set("abiVersion", Napi::Number::New(env, 3));  // 2: peerCred; 3: readProbe, statAt
  return exports;
}

}  // namespace cgfreeze

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return cgfreeze::Init(env, exports);
}

NODE_API_MODULE(cgfreeze, InitModule)
