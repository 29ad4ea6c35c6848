// Module entry: exports only. See cgroup_handle.h for the primitives.
#include <napi.h>

#include "cgroup_handle.h"
#include "peer_cred.h"

namespace cgfreeze {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("CgroupHandle", CgroupHandle::Define(env));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("peerGroups", Napi::Function::New(env, PeerGroups, "peerGroups"));
  exports.Set("abiVersion", Napi::Number::New(env, 5));  // 5: peerGroups
  return exports;
}

}  // namespace cgfreeze

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return cgfreeze::Init(env, exports);
}

NODE_API_MODULE(cgfreeze, InitModule)
