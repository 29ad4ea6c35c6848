import { spawn } from 'node:child_process';

/** Runs an HTTP request on the socket as another uid (a separate node process), returns status and body. */
export function asUid(
  uid: number,
  socketPath: string,
  path: string,
  body: string,
  method: 'POST' | 'GET' = 'POST',
): Promise<{ status: number; text: string }> {
  const script = `
    const http = require('node:http');
    const req = http.request({ socketPath: ${JSON.stringify(socketPath)}, method: ${JSON.stringify(method)}, path: ${JSON.stringify(path)},
      headers: { 'content-type': 'application/json' } }, (res) => {
      let t = ''; res.on('data', (d) => t += d); res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, text: t })); });
    });
    req.on('error', (e) => { process.stdout.write(JSON.stringify({ status: 0, text: e.message })); });
    req.end(${JSON.stringify(body)});`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out) as { status: number; text: string });
      } catch {
        reject(new Error(`no answer from the uid ${uid} client: ${out}`));
      }
    });
  });
}
