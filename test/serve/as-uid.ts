import { spawn } from 'node:child_process';

/**
 * Runs an HTTP request (POST unless `opts.method` says otherwise) on the socket as another uid (a
 * separate node process under setpriv), with `opts.groups` as its supplementary groups (none by
 * default); returns status and body, or status 0 and the error's code when it could not connect.
 */
export function asUid(
  uid: number,
  socketPath: string,
  path: string,
  body: string,
  opts: { method?: 'POST' | 'GET'; groups?: number[] } = {},
): Promise<{ status: number; text: string }> {
  const { method = 'POST', groups = [] } = opts;
  const script = `
    const http = require('node:http');
    const req = http.request({ socketPath: ${JSON.stringify(socketPath)}, method: ${JSON.stringify(method)}, path: ${JSON.stringify(path)},
      headers: { 'content-type': 'application/json' } }, (res) => {
      let t = ''; res.on('data', (d) => t += d); res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, text: t })); });
    });
    req.on('error', (e) => { process.stdout.write(JSON.stringify({ status: 0, text: e.code })); });
    req.end(${JSON.stringify(body)});`;
  const groupArgs = groups.length === 0 ? ['--clear-groups'] : [`--groups=${groups.join(',')}`];
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, ...groupArgs, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
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
