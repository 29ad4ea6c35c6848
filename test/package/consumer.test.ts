// The packed tarball as a consumer installs it, in fresh projects: without a compiler, with install scripts
// skipped, under Node 20, 22 and 24 and an emulated arm64 node, on a simulated musl host and another OS,
// and where no prebuild fits (ERR_NATIVE_LOAD's remedy). Each run freezes a real scratch cgroup.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Scratch, createScratch } from '../helpers/scratch.js';

const tarball = inject('tarball');
const runtimes = inject('runtimes');

// Freezes and thaws the cgroup given, checking the kernel's own record (cgroup.events) each time.
const CHECK_SCRIPT = `
const { readFileSync } = require('node:fs');
const dir = process.argv[2];
const frozen = () => /^frozen 1$/m.test(readFileSync(dir + '/cgroup.events', 'utf8'));
const out = { node: process.version, arch: process.arch };
try {
  const { freezeSync, thawSync } = require('cgfreeze');
  out.freeze = freezeSync(dir).state;
  out.kernelFrozen = frozen();
  out.thaw = thawSync(dir).state;
  out.kernelThawed = !frozen();
} catch (err) {
  out.error = { code: err.code, message: err.message };
}
console.log(JSON.stringify(out));
`;

// Simulations, loaded with --require: a musl process (what /proc/self/maps shows on Alpine) and macOS.
const FAKE_MUSL = `
const fs = require('node:fs');
const readFileSync = fs.readFileSync;
fs.readFileSync = function (file, ...rest) {
  const text = readFileSync.call(this, file, ...rest);
  return file === '/proc/self/maps' ? text + '7f0000000000-7f0000001000 r-xp 00000000 00:00 1 /lib/ld-musl-x86_64.so.1\\n' : text;
};
`;
const FAKE_DARWIN = `Object.defineProperty(process, 'platform', { value: 'darwin' });`;

interface CheckResult {
  node: string;
  arch: string;
  freeze?: string;
  kernelFrozen?: boolean;
  thaw?: string;
  kernelThawed?: boolean;
  error?: { code: string; message: string };
}

let work: string;
let scratch: Scratch;
let cgroup: string;
let sleeper: ChildProcess;
/** A PATH with node, npm and sh only: no make, no g++, no python3. */
let bareBin: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cgfreeze-consumers-'));
  bareBin = join(work, 'bin');
  mkdirSync(bareBin);
  const which = (cmd: string): string =>
    spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
  for (const cmd of ['npm', 'sh']) symlinkSync(which(cmd), join(bareBin, cmd));
  symlinkSync(process.execPath, join(bareBin, 'node'));
  writeFileSync(join(work, 'fake-musl.js'), FAKE_MUSL);
  writeFileSync(join(work, 'fake-darwin.js'), FAKE_DARWIN);

  scratch = createScratch();
  cgroup = scratch.make(2);
  sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  writeFileSync(join(cgroup, 'cgroup.procs'), String(sleeper.pid));
});

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  await scratch?.cleanup();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

/** Only what npm needs: none of the outer `npm run`'s npm_* variables leak into the consumer's npm. */
function env(path: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { HOME: process.env.HOME, PATH: path, ...extra };
}

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Asynchronous, so the test worker keeps answering vitest while npm installs or compiles for a minute. */
function run(cmd: string, args: string[], cwd: string, environment: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: environment, timeout: 170_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Fails with the command's output in the diff. */
function expectSuccess(result: RunResult): void {
  expect({ status: result.status, stdout: result.stdout, stderr: result.stderr }).toMatchObject({ status: 0 });
}

async function consumer(
  name: string,
  installArgs: string[],
  environment = env(process.env.PATH ?? ''),
): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true }));
  const result = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--foreground-scripts', ...installArgs, tarball],
    dir,
    environment,
  );
  expectSuccess(result);
  // In the project, so that its require('cgfreeze') finds the installed copy.
  writeFileSync(join(dir, 'check.js'), CHECK_SCRIPT);
  return dir;
}

async function check(dir: string, command: string[] = [process.execPath], preload?: string): Promise<CheckResult> {
  const [cmd, ...args] = command as [string, ...string[]];
  const nodeArgs = preload === undefined ? [] : ['--require', join(work, preload)];
  const result = await run(
    cmd,
    [...args, ...nodeArgs, join(dir, 'check.js'), cgroup],
    dir,
    env(process.env.PATH ?? ''),
  );
  expectSuccess(result);
  return JSON.parse(result.stdout) as CheckResult;
}

const FROZE_AND_THAWED = { freeze: 'frozen', kernelFrozen: true, thaw: 'thawed', kernelThawed: true };

describe('the packed tarball in a fresh project', () => {
  let noScripts: string;

  beforeAll(async () => {
    noScripts = await consumer('ignore-scripts', ['--ignore-scripts']);
  });

  it('installs with no compiler reachable, compiles nothing, and freezes', async () => {
    const compilerless = env(bareBin, { CC: '/nonexistent/cc', CXX: '/nonexistent/c++' });
    const reachable: string[] = [];
    for (const tool of ['make', 'g++', 'cc', 'python3']) {
      if ((await run('sh', ['-c', `command -v ${tool}`], work, compilerless)).status === 0) reachable.push(tool);
    }
    expect(reachable).toEqual([]);
    const dir = await consumer('no-compiler', [], compilerless);
    expect(existsSync(join(dir, 'node_modules', 'cgfreeze', 'build'))).toBe(false);
    expect(await check(dir)).toMatchObject(FROZE_AND_THAWED);
  });

  it('installs with install scripts skipped and freezes through the prebuild', async () => {
    expect(existsSync(join(noScripts, 'node_modules', 'cgfreeze', 'build'))).toBe(false);
    expect(await check(noScripts)).toMatchObject(FROZE_AND_THAWED);
  });

  it.each(runtimes.map((r) => [`${r.arch} Node ${r.major}`, r] as const))(
    'the prebuild loads and freezes under %s',
    async (_label, runtime) => {
      const result = await check(noScripts, runtime.command);
      expect(result.node.startsWith(`v${runtime.major}.`)).toBe(true);
      expect(result).toMatchObject({ arch: runtime.arch, ...FROZE_AND_THAWED });
    },
  );

  it('never loads a glibc prebuild into a musl process', async () => {
    const result = await check(noScripts, [process.execPath], 'fake-musl.js');
    expect(result.error?.code).toBe('ERR_NATIVE_LOAD');
    expect(result.error?.message).toContain('linux-x64-musl');
    expect(result.error?.message).not.toContain('glibc');
  });
});

describe('where no prebuild fits', () => {
  it("ERR_NATIVE_LOAD's remedy, npm rebuild cgfreeze, compiles the addon and it freezes", async () => {
    const dir = await consumer('uncovered', ['--ignore-scripts']);
    // What a platform without a prebuild sees: the package has none for it.
    rmSync(join(dir, 'node_modules', 'cgfreeze', 'prebuilds'), { recursive: true });
    const before = await check(dir);
    expect(before.error?.code).toBe('ERR_NATIVE_LOAD');
    expect(before.error?.message).toContain('`npm rebuild cgfreeze`');

    const rebuild = await run('npm', ['rebuild', 'cgfreeze', '--foreground-scripts'], dir, env(process.env.PATH ?? ''));
    expectSuccess(rebuild);
    expect(existsSync(join(dir, 'node_modules', 'cgfreeze', 'build', 'Release', 'cgfreeze.node'))).toBe(true);
    expect(await check(dir)).toMatchObject(FROZE_AND_THAWED);
  });
});

describe('on another OS', () => {
  it('installs, builds nothing, loads the client, and the freezer is a typed error', async () => {
    // npm's own platform check (the package has no "os" field), then the install hook as darwin runs it.
    const dir = await consumer('darwin', ['--os=darwin', '--cpu=arm64', '--ignore-scripts']);
    const hook = await run(
      process.execPath,
      ['--require', join(work, 'fake-darwin.js'), join(dir, 'node_modules', 'cgfreeze', 'scripts', 'install.mjs')],
      dir,
      env(bareBin),
    );
    expectSuccess(hook);
    expect(hook.stderr).toContain('nothing to build on darwin');
    expect(existsSync(join(dir, 'node_modules', 'cgfreeze', 'build'))).toBe(false);

    const script = `
      const { createClient } = require('cgfreeze/client');
      const client = createClient({ url: 'http://127.0.0.1:9', token: 't' });
      let code;
      try { require('cgfreeze').freezeSync(process.argv[1]); } catch (err) { code = err.code + ': ' + err.message; }
      console.log(JSON.stringify({ client: typeof client.pause, code }));`;
    const used = await run(
      process.execPath,
      ['--require', join(work, 'fake-darwin.js'), '-e', script, cgroup],
      dir,
      env(bareBin),
    );
    expectSuccess(used);
    const out = JSON.parse(used.stdout) as { client: string; code: string };
    expect(out.client).toBe('function');
    expect(out.code).toMatch(/^ERR_NATIVE_LOAD: .*runs only on Linux \(this is darwin\)/);
  });
});
