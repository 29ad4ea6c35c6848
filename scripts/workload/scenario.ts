// TypeScript side of scenario.c: the process shapes of the kernel freezer
// selftests (vfork, fork/exec storm, ptrace tracer) in a cgroup of the test's.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { isSelfFrozen, readProcs, sleep, thawCgroup } from './cgroupfs.js';
import { workloadBinary } from './index.js';

export type ScenarioMode = 'vfork' | 'forkstorm' | 'tracer';

export interface ScenarioTask {
  /** The scenario's leader (the vfork parent, the storm's parent, the tracer). */
  readonly pid: number;
  /** tracer: sends a command (interrupt, getsiginfo, detach); resolves with `ok` or `err <errno>`. */
  command(cmd: 'interrupt' | 'getsiginfo' | 'detach'): Promise<string>;
  /** Kills the whole process group and waits until its cgroup is empty. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

function nextLine(child: Child, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => finish(new Error(`scenario ${child.pid}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0) finish(undefined, buffered.slice(0, nl));
    };
    const onExit = (): void => finish(new Error(`scenario ${child.pid} exited`));
    function finish(err?: Error, line?: string): void {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(line as string);
    }
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Starts scenario.c in `cgroupDir` and resolves once it reports `ready`. */
export async function startScenario(cgroupDir: string, mode: ScenarioMode, args: string[] = []): Promise<ScenarioTask> {
  const child: Child = spawn(workloadBinary('scenario'), ['--cgroup', cgroupDir, mode, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('cannot spawn the scenario helper');
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let stopped = false;

  const stop = async (timeoutMs = 10_000): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.stdin.end();
    // Frozen v1 tasks cannot die until thawed.
    if (isSelfFrozen(cgroupDir)) thawCgroup(cgroupDir);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone.
      }
      if (readProcs(cgroupDir).length === 0 || mode === 'tracer') break;
      if (Date.now() > deadline) throw new Error(`scenario ${mode} left tasks in ${cgroupDir}`);
      await sleep(10);
    }
  };

  try {
    const line = await nextLine(child, 10_000);
    if (line !== 'ready') throw new Error(`scenario ${mode} said ${JSON.stringify(line)}`);
  } catch (err) {
    await stop();
    throw new Error(`scenario ${mode} did not start: ${(err as Error).message} ${stderr}`, { cause: err });
  }

  return {
    pid,
    async command(cmd) {
      const answer = nextLine(child, 15_000);
      child.stdin.write(`${cmd}\n`);
      return answer;
    },
    stop,
  };
}
