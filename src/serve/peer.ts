import type { Socket } from 'node:net';
import { CgfreezeError, fromSystemError } from '../errors.js';
import { type PeerCredentials, loadNative } from '../native.js';

/** libuv keeps the descriptor on the stream handle; node does not document it, so check it. */
function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new CgfreezeError('EBADF', 'the connection has no file descriptor to read peer credentials from');
  }
  return fd;
}

/** The uid, gid and pid of the process that connected to our unix socket. */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = socketFd(socket);
  try {
    return loadNative().peerCred(fd);
  } catch (err) {
    throw fromSystemError(err);
  }
}
