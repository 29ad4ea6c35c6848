// The credentials of the process at the other end of a connected unix
// socket, as the kernel recorded them at connect() time (SO_PEERCRED,
// SO_PEERGROUPS). The sidecar's policy decides on these, never on anything
// the client says about itself.
#ifndef CGFREEZE_PEER_CRED_H_
#define CGFREEZE_PEER_CRED_H_

#include <napi.h>

namespace cgfreeze {

// peerCred(fd: number) -> { pid, uid, gid }; throws errno + syscall on error.
Napi::Value PeerCred(const Napi::CallbackInfo& info);

// peerGroups(fd: number) -> number[]: the peer's supplementary groups;
// throws errno + syscall on error (ENOPROTOOPT before Linux 4.13).
Napi::Value PeerGroups(const Napi::CallbackInfo& info);

}  // namespace cgfreeze

#endif  // CGFREEZE_PEER_CRED_H_
