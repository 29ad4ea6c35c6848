import type { Socket } from 'node:net';
import { CgfreezeError, describeValue, fromSystemError } from './errors.js';
import { loadNative } from './native.js';

/** Who is at the other end of a unix socket, as the kernel recorded it when the peer connected. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  /** The primary group. */
  gid: number;
  /** The supplementary groups (SO_PEERGROUPS), e.g. a pod's `supplementalGroups`. */
  groups: number[];
}

/** libuv keeps the descriptor on the stream handle; Node does not document it, so check it. */
function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } } | null)?._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new CgfreezeError(
      'ERR_INVALID_ARG',
      `peerCredentials() needs a connected unix socket with a file descriptor, got ${describeValue(socket)}`,
    );
  }
  return fd;
}

/**
 * The uid, gid, supplementary groups and pid of the process connected to a unix socket
 * (SO_PEERCRED, SO_PEERGROUPS): what a server may decide on, unlike anything the client says.
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = socketFd(socket);
  try {
    const native = loadNative();
    return { ...native.peerCred(fd), groups: native.peerGroups(fd) };
  } catch (err) {
    throw fromSystemError(err);
  }
}
