// A client of the node's cgfreeze sidecar; deploy/client-example.yaml runs it in a Pod.
//   node client-example.mjs pause <target> [ttl]    e.g. pause batch/worker-0/app 30s
//   node client-example.mjs unpause <target>
// It needs no privilege: the socket (group 2001, mode 660) lets it connect, and the sidecar's
// policy decides by the uid and groups the kernel reports for this process. Prints one JSON line.
import { createClient } from 'cgfreeze/client';

const [action, target, ttl] = process.argv.slice(2);
if ((action !== 'pause' && action !== 'unpause') || target === undefined) {
  console.error('usage: client-example.mjs pause|unpause <target> [ttl]');
  process.exit(2);
}
const sidecar = createClient({ socketPath: process.env.CGFREEZE_SOCKET ?? '/run/cgfreeze/cgfreeze.sock' });
try {
  const result =
    action === 'pause' ? await sidecar.pause(target, ttl === undefined ? {} : { ttl }) : await sidecar.unpause(target);
  console.log(JSON.stringify(result));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, message: err.message }));
  process.exitCode = 1;
} finally {
  sidecar.close();
}
