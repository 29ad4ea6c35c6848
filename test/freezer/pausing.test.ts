// What pausing promises: a process's memory, its open files and an established
// loopback TCP connection survive a freeze of several seconds, nothing is echoed
// while it is frozen, and bytes sent to it meanwhile all arrive, in order, after
// the thaw.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeze, thaw } from '../../src/index.js';
import { kernelFreezerState } from '../helpers/kernel.js';
import { type Scratch, createScratch } from '../helpers/scratch.js';

let scratch: Scratch;
let tmp: string;
beforeAll(() => {
  scratch = createScratch();
  tmp = mkdtempSync(join(tmpdir(), 'cgfreeze-pause-'));
});
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  await scratch.cleanup();
});

// The paused process: fills 64 MiB with a pattern, opens a file, connects to the test's server and
// echoes every line it receives with a running sequence check; `report` answers with checksums.
const CHILD = `
const fs = require('node:fs');
const net = require('node:net');
const crypto = require('node:crypto');
const memory = Buffer.alloc(64 * 1024 * 1024);
for (let i = 0; i < memory.length; i += 4) memory.writeUInt32LE(i, i);
const fd = fs.openSync(process.argv[2], 'r');
const sock = net.connect(Number(process.argv[1]), '127.0.0.1');
let pending = '';
let expected = 0;
sock.on('data', (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf('\\n')) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line === 'report') {
      const file = Buffer.alloc(64);
      const n = fs.readSync(fd, file, 0, 64, 0);
      const digest = crypto.createHash('sha256').update(memory).digest('hex');
      sock.write('report ' + digest + ' ' + file.toString('utf8', 0, n) + '\\n');
    } else {
      const seq = Number(line);
      sock.write((seq === expected ? 'ok ' : 'BAD ') + seq + '\\n');
      expected = seq + 1;
    }
  }
});
`;

function lines(socket: Socket): AsyncGenerator<string> {
  let buffer = '';
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      queue.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    wake?.();
  });
  return (async function* () {
    for (;;) {
      while (queue.length > 0) yield queue.shift() as string;
      await new Promise<void>((r) => (wake = r));
    }
  })();
}

describe.each([1, 2] as const)('cgroup v%i', (v) => {
  it('memory, open files and a TCP connection survive a 3 s freeze; nothing is echoed meanwhile; all arrives in order after', async () => {
    const dir = scratch.make(v);
    const file = join(tmp, `file-v${v}`);
    writeFileSync(file, 'contents that must survive');
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const connected = new Promise<Socket>((r) => server.once('connection', r));
    const child = spawn(
      'sh',
      [
        '-c',
        `echo $$ > ${dir}/cgroup.procs && exec "$0" -e "$1" "$2" "$3"`,
        process.execPath,
        CHILD,
        String(port),
        file,
      ],
      {
        stdio: 'ignore',
      },
    );
    try {
      const socket = await connected;
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      const reader = lines(socket);
      socket.write('report\n');
      const before = (await reader.next()).value as string;
      expect(before).toMatch(/^report [0-9a-f]{64} contents that must survive$/);

      await freeze(dir);
      const receivedAtFreeze = received;
      const sent = 2000;
      for (let i = 0; i < sent; i++) socket.write(`${i}\n`);
      await new Promise((r) => setTimeout(r, 3000));
      expect(kernelFreezerState(dir)).toBe('frozen');
      // A freeze that did nothing would have echoed every line by now.
      expect(received - receivedAtFreeze).toBe(0);
      await thaw(dir);

      for (let i = 0; i < sent; i++) expect((await reader.next()).value).toBe(`ok ${i}`);
      socket.write('report\n');
      expect((await reader.next()).value).toBe(before);
      socket.destroy();
    } finally {
      child.kill('SIGKILL');
      server.close();
    }
  });
});
